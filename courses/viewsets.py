"""Wagtail admin ViewSets of the courses app."""

from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.viewsets.base import ViewSet

from courses.admin import call_centre as admin_views


class CallCentreMenuItem(MenuItem):
    """Shown only to those the views let in (the views enforce it; the menu just does not offer a dead end)."""

    def is_shown(self, request):
        return admin_views.can_use_call_centre(request.user)


class CallCentreViewSet(ViewSet):
    """/admin/call-centre/: book callers by phone, find, cancel and move bookings, merge duplicate records."""

    name = "call-centre"
    url_namespace = admin_views.URL_NAMESPACE
    icon = "mobile-alt"
    menu_label = _("Call centre")
    menu_order = 150  # after Pages and before Images
    add_to_admin_menu = True

    def get_urlpatterns(self):
        return [
            path("", admin_views.LookupView.as_view(), name="lookup"),
            path("book/", admin_views.ChooseSessionView.as_view(), name="choose_session"),
            path("book/<int:session_id>/", admin_views.BookView.as_view(), name="book"),
            path("people/<int:pk>/", admin_views.PersonView.as_view(), name="person"),
            path("people/<int:pk>/merge/", admin_views.MergeChooseView.as_view(), name="merge_choose"),
            path("people/<int:pk>/merge/<int:other_pk>/", admin_views.MergeView.as_view(), name="merge"),
            path("bookings/<int:pk>/", admin_views.RegistrationView.as_view(), name="registration"),
            path("bookings/<int:pk>/cancel/", admin_views.CancelView.as_view(), name="cancel"),
            path("bookings/<int:pk>/move/", admin_views.MoveView.as_view(), name="move"),
        ]

    def get_menu_item(self, order=None):
        items = [
            CallCentreMenuItem(_("Find a booking"), reverse(self.get_url_name("lookup")), name="call-centre-lookup",
                               icon_name="search", order=1),
            CallCentreMenuItem(_("Book a caller"), reverse(self.get_url_name("choose_session")),
                               name="call-centre-book", icon_name="plus", order=2),
        ]
        # A submenu is shown only when one of its items is.
        return SubmenuMenuItem(self.menu_label, Menu(items=items), name="call-centre", icon_name=self.menu_icon,
                               order=self.get_menu_item_order(order))


call_centre_viewset = CallCentreViewSet()
