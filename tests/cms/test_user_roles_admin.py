"""Dekiru's roles on Wagtail's users pages (cms.user_roles_admin): the list's "Role" column in the admin's language,
in one query for the page whatever its length; the edit page names the roles; the role checkboxes carry the roles'
labels. The viewset is mounted at /admin/users/ by this module's URLconf (in the project it is Wagtail's users app
config, cms.user_roles_apps, that puts it there)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import translation
from django.utils.module_loading import import_string
from wagtail.admin.auth import require_admin_access
from wagtail.users.models import UserProfile
from wagtail.utils.urlpatterns import decorate_urlpatterns

from cms import roles
from cms import urls as project_urls
from cms.user_roles_admin import UserViewSet, role_labels
from cms.user_roles_apps import DekiruUsersAppConfig

_viewset = UserViewSet("wagtailusers_users", url_prefix="users")
# Ours first: it answers /admin/users/ and its namespace is the one `reverse` finds. Behind the admin's own guard
# (sign-in, admin access, the user's admin language), as wagtail.admin.urls puts every viewset.
urlpatterns = [path("admin/users/", include((decorate_urlpatterns(_viewset.get_urlpatterns(), require_admin_access),
                                             "wagtailusers_users"))),
               *project_urls.urlpatterns]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def make_user(username, *role_names, language="en"):
    user = get_user_model().objects.create_user(username=username, password="x", first_name=username.title())
    for name in role_names:
        user.groups.add(Group.objects.get(name=name))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


@pytest.fixture
def staff():
    return {
        "admin": make_user("admin", roles.CITY_ADMINISTRATOR),
        "analyst": make_user("analyst", roles.CITY_ANALYST),
        "manager": make_user("manager", roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR),
        "nobody": make_user("nobody"),
    }


def row_of(content: str, user) -> str:
    """The list's row of `user` (the one with the link to their edit page)."""
    return next(row for row in content.split("<tr")[1:] if f"/admin/users/edit/{user.pk}/" in row).split("</tr>")[0]


def test_the_users_list_shows_each_users_role(client, staff):
    client.force_login(staff["admin"])
    response = client.get("/admin/users/")
    assert response.status_code == 200
    content = response.content.decode()
    assert re.search(r"<th[^>]*>\s*Role\s*</th>", content)
    assert "City analyst" in row_of(content, staff["analyst"])
    assert "Partner manager, Partner instructor" in row_of(content, staff["manager"])
    assert "City administrator" in row_of(content, staff["admin"])
    assert "City" not in row_of(content, staff["nobody"]) and "Partner" not in row_of(content, staff["nobody"])


def test_in_japanese_the_roles_are_named_in_japanese(client, staff):
    staff["admin"].wagtail_userprofile.preferred_language = "ja"
    staff["admin"].wagtail_userprofile.save()
    client.force_login(staff["admin"])
    content = client.get("/admin/users/").content.decode()
    with translation.override("ja"):
        label = str(roles.ROLE_LABELS[roles.CITY_ANALYST])
    assert label != "City analyst"  # the catalogue has its Japanese name
    assert label in row_of(content, staff["analyst"])


def test_the_list_reads_the_roles_in_one_query_whatever_the_number_of_users(client, staff):
    client.force_login(staff["admin"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/users/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(8):
        make_user(f"extra{n}", roles.PARTNER_INSTRUCTOR)
    assert queries() == few


def test_the_edit_page_names_the_roles_and_labels_the_checkboxes(client, staff):
    client.force_login(staff["admin"])
    response = client.get(f"/admin/users/edit/{staff['manager'].pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Manager (Partner manager, Partner instructor)" in content
    groups = response.context["form"].fields["groups"]
    with translation.override("en"):
        labels = {group.name: groups.label_from_instance(group) for group in groups.queryset}
    assert labels[roles.CITY_ANALYST] == "City analyst"
    assert role_labels(staff["nobody"]) == ""


def test_those_without_user_permissions_are_not_let_in(client, staff):
    client.force_login(staff["analyst"])
    response = client.get("/admin/users/")
    assert response.status_code in (302, 403)


def test_the_app_config_points_wagtail_at_this_viewset():
    assert import_string(DekiruUsersAppConfig.user_viewset) is UserViewSet
    assert (DekiruUsersAppConfig.name, DekiruUsersAppConfig.label) == ("wagtail.users", "wagtailusers")
