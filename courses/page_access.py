"""Partner staff's access to their course pages: each partner has a CourseGroupPage under the course index, and a
page-permission group whose members are exactly its staff. Kept in step whenever a partner or its staff change
(partners.services.partner_changed, through the `partner_changed` hook registered in courses/wagtail_hooks.py).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils.text import slugify
from django.utils.translation import gettext as _
from wagtail.models import GroupPagePermission

from cms.roles import PARTNER_PAGE_PERMISSIONS, partner_editors_group_name
from courses.models import CourseGroupPage, CourseIndexPage
from partners.models import Partner


def course_group_for(partner: Partner | None):
    """The CourseGroupPage of a partner (or of the city, for None), created under the course index if missing."""
    existing = CourseGroupPage.objects.filter(partner=partner).first()
    if existing is not None:
        return existing
    index = CourseIndexPage.objects.first()
    if index is None:
        raise RuntimeError("Create the course index page before adding course groups.")
    title = str(partner) if partner else _("City courses")
    slug_base = slugify(partner.name_en or f"partner-{partner.pk}") if partner else "city"
    group = CourseGroupPage(title=title, slug=slug_base or f"partner-{partner.pk}", partner=partner)
    if CourseGroupPage.objects.child_of(index).filter(slug=group.slug).exists():
        group.slug = f"{group.slug}-{partner.pk if partner else 'city'}"
    index.add_child(instance=group)
    group.save_revision().publish()
    return group


def sync_partner_page_access(partner: Partner):
    """Keep the partner's page-permission group in step with the partner: add and change (not publish) on its
    own CourseGroupPage subtree, and exactly its staff (memberships) as members; none while it is inactive.
    Idempotent. Returns the group."""
    group, _created = Group.objects.get_or_create(name=partner_editors_group_name(partner.pk))
    page = course_group_for(partner)
    for action in PARTNER_PAGE_PERMISSIONS:
        permission = Permission.objects.get(content_type__app_label="wagtailcore", codename=f"{action}_page")
        GroupPagePermission.objects.get_or_create(group=group, page=page, permission=permission)
    users = partner.memberships.values_list("user", flat=True) if partner.is_active else []
    group.user_set.set(get_user_model().objects.filter(pk__in=users))
    return group
