"""Which partners' data a staff user may see: every partner for city staff, their own partners for partner staff.

The partner-workspace issue builds the full permission policies on this; the series and feed pages use it now.
"""

from cms import roles

CITY_ROLES = (roles.CITY_ADMINISTRATOR, roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR)


def is_city_staff(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_dekiru_is_city_staff", None)
    if cached is None:
        cached = user._dekiru_is_city_staff = user.groups.filter(name__in=CITY_ROLES).exists()
    return cached


def partner_ids(user) -> set[int] | None:
    """None: no limit (city staff). Otherwise the ids of the active partners the user is a member of (maybe none)."""
    if is_city_staff(user):
        return None
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(user.partner_memberships.filter(partner__is_active=True).values_list("partner_id", flat=True))


def scope(queryset, user, field: str = "organiser"):
    """`queryset` limited to the rows whose `field` (a partner foreign key path) is one of the user's partners."""
    ids = partner_ids(user)
    return queryset if ids is None else queryset.filter(**{f"{field}__in": ids})
