"""Which partners' data a staff user may see: every partner for city staff, their own partners for partner staff.

The partner-workspace issue builds the full permission policies on this; the series and feed pages use it now.
"""

from cms.roles import CITY_ROLES, is_city_staff, role_names  # noqa: F401 (partners' callers import them here)
from partners.models import Venue


def partner_ids(user) -> set[int] | None:
    """None: no limit (city staff). Otherwise the ids of the active partners the user is a member of (maybe none)."""
    if is_city_staff(user):
        return None
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(user.partner_memberships.filter(partner__is_active=True).values_list("partner_id", flat=True))


def usable_venues(ids: set[int] | None):
    """Venues sessions may be held at: every venue for city staff (ids None); the city's and their own partners'
    for partner staff."""
    from django.db.models import Q

    venues = Venue.objects.select_related("ward")
    return venues if ids is None else venues.filter(Q(partner__isnull=True) | Q(partner_id__in=ids))


def scope(queryset, user, field: str = "organiser"):
    """`queryset` limited to the rows whose `field` (a partner foreign key path) is one of the user's partners."""
    ids = partner_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})


def _venue_policy_class():
    from wagtail.permission_policies import ModelPermissionPolicy

    class VenuePermissionPolicy(ModelPermissionPolicy):
        """Venues: Django's model permissions (partners.view/add/change/delete_venue), with partner scoping on
        top. City staff: every venue. Partner staff see and use their own partners' venues and the city's, and
        change or delete only their own partners'. Registered in partners.apps."""

        def __init__(self):
            super().__init__("partners.Venue")

        def _allowed(self, user, action, instance) -> bool:
            ids = partner_ids(user)
            if ids is None:
                return True
            if action == "view":
                return instance.partner_id is None or instance.partner_id in ids
            return instance.partner_id in ids

        def user_has_permission_for_instance(self, user, action, instance) -> bool:
            return self.user_has_permission(user, action) and self._allowed(user, action, instance)

        def user_has_any_permission_for_instance(self, user, actions, instance) -> bool:
            return any(self.user_has_permission_for_instance(user, action, instance) for action in actions)

        def instances_user_has_any_permission_for(self, user, actions):
            actions = [action for action in actions if self.user_has_permission(user, action)]
            if not actions:
                return self.model._default_manager.none()
            ids = partner_ids(user)
            if "view" in actions:
                return usable_venues(ids)
            return self.model._default_manager.all() if ids is None else self.model._default_manager.filter(
                partner_id__in=ids)

    return VenuePermissionPolicy


def venue_policy():
    global _VENUE_POLICY
    if _VENUE_POLICY is None:
        _VENUE_POLICY = _venue_policy_class()()
    return _VENUE_POLICY


_VENUE_POLICY = None
