"""Wagtail's users app with Dekiru's users pages (cms.user_roles_admin: each user's role on the list and the edit
page). Listed in INSTALLED_APPS instead of "wagtail.users"; a module of its own because app configs are imported
before the models are ready, and the viewset's module needs them."""

from wagtail.users.apps import WagtailUsersAppConfig


class DekiruUsersAppConfig(WagtailUsersAppConfig):
    user_viewset = "cms.user_roles_admin.UserViewSet"
