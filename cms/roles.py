"""The roles staff have in the Wagtail admin, as Django groups created by a data migration.

City roles see all data; partner roles are linked to a partner by PartnerMembership and later issues scope
their views by it. Names are stable identifiers (the group names); labels are translated in the admin.
"""

from django.utils.translation import gettext_lazy

CITY_ADMINISTRATOR = "City administrator"
CITY_PROGRAMME_OFFICER = "City programme officer"
CITY_ANALYST = "City analyst"
CALL_CENTRE_OPERATOR = "Call-centre operator"
PARTNER_MANAGER = "Partner manager"
PARTNER_INSTRUCTOR = "Partner instructor"

ALL_ROLES = [CITY_ADMINISTRATOR, CITY_PROGRAMME_OFFICER, CITY_ANALYST, CALL_CENTRE_OPERATOR, PARTNER_MANAGER,
             PARTNER_INSTRUCTOR]

# The role groups' names are stable identifiers (above); these are their labels in the admin's language.
ROLE_LABELS = {
    CITY_ADMINISTRATOR: gettext_lazy("City administrator"),
    CITY_PROGRAMME_OFFICER: gettext_lazy("City programme officer"),
    CITY_ANALYST: gettext_lazy("City analyst"),
    CALL_CENTRE_OPERATOR: gettext_lazy("Call-centre operator"),
    PARTNER_MANAGER: gettext_lazy("Partner manager"),
    PARTNER_INSTRUCTOR: gettext_lazy("Partner instructor"),
}

CITY_ROLES = (CITY_ADMINISTRATOR, CITY_PROGRAMME_OFFICER, CITY_ANALYST, CALL_CENTRE_OPERATOR)


def role_names(user) -> frozenset[str]:
    """The Dekiru roles (the group names above) the user holds: one query, remembered on the user object for the rest
    of the request (request.user is the same object throughout), shared by is_city_staff and courses.privacy."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_dekiru_role_names", None)
    if cached is None:
        cached = user._dekiru_role_names = frozenset(
            user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return cached


def is_city_staff(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(role_names(user) & set(CITY_ROLES))


# Staff accounts: the access review needs the permission to view user accounts, deactivating (or resetting someone's
# second factor) the permission to change them; both are held by no role but the city administrator's.
REVIEW_PERMISSION = "cms.view_user"
DEACTIVATE_PERMISSION = "cms.change_user"


def can_review(user) -> bool:
    return is_city_staff(user) and user.has_perm(REVIEW_PERMISSION)


def can_deactivate(user) -> bool:
    return is_city_staff(user) and user.has_perm(DEACTIVATE_PERMISSION)

# Page permissions on the course index (and so on every course below it), granted by provision.services.ensure_site
# when it creates the index (the roles migration grants them where the index already existed).
# Partner staff get theirs per partner, on their own course group only (courses.page_access.sync_partner_page_access).
COURSE_INDEX_PAGE_PERMISSIONS = {
    CITY_PROGRAMME_OFFICER: ("add", "change", "publish"),
}

# Page permissions of a partner's staff on their partner's CourseGroupPage (and its courses): drafts, no publish.
PARTNER_PAGE_PERMISSIONS = ("add", "change")

# Course pages drafted by partner staff go live once a city programme officer approves them (a Wagtail workflow on
# the course index). City staff with publish permission publish directly.
COURSE_WORKFLOW = "City approval of course pages"
COURSE_APPROVERS = (CITY_PROGRAMME_OFFICER, CITY_ADMINISTRATOR)


def partner_editors_group_name(partner_pk: int) -> str:
    """The group holding the page permissions of one partner's staff. A stable identifier, not shown to residents."""
    return f"Partner {partner_pk}: course editors"


def grant_course_index_permissions(index_page) -> None:
    """Give the roles above their page permissions on the course index. Idempotent; skips missing groups."""
    from django.contrib.auth.models import Group, Permission
    from wagtail.models import GroupPagePermission

    for name, actions in COURSE_INDEX_PAGE_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for action in actions:
            permission = Permission.objects.get(content_type__app_label="wagtailcore", codename=f"{action}_page")
            GroupPagePermission.objects.get_or_create(group=group, page=index_page, permission=permission)
