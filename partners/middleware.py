"""Admin pages that list other partners' data and cannot be scoped per partner are for city staff only.

Wagtail's site history report lists the log entries of every object of a model the user has any permission on,
whichever partner it belongs to (ModelLogEntryManager.viewable_by_user has no per-object hook), so partner staff
are kept out of it; their objects' own history pages stay open to them through the scoped views.
"""

from django.core.exceptions import PermissionDenied

from partners.permissions import is_city_staff

CITY_ONLY_ADMIN_PATHS = ("/admin/reports/site-history/",)


class CityOnlyAdminPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(CITY_ONLY_ADMIN_PATHS) and request.user.is_authenticated \
                and not is_city_staff(request.user):
            raise PermissionDenied
        return self.get_response(request)
