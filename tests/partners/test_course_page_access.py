"""Course pages per partner: partner staff draft and edit their own partner's course pages only; a city programme
officer approves (or sends back with a comment) before a page drafted by partner staff goes live; city staff
publish directly."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.models import Page

from cms.roles import COURSE_WORKFLOW, partner_editors_group_name
from partners.services import add_membership, remove_membership
from tests import factories

pytestmark = pytest.mark.django_db


def staff(username, group, partner=None, role="manager"):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role=role)
    return user


@pytest.fixture
def partners(site):
    a, b = factories.partner(), factories.partner()
    return a, b, factories.course(owner=a), factories.course(owner=b)


@pytest.mark.parametrize("role", ["manager", "instructor"])
def test_partner_staff_edit_only_their_own_partners_pages(client, partners, role):
    a, b, course_a, course_b = partners
    user = staff(f"b-{role}", "Partner manager" if role == "manager" else "Partner instructor", partner=b,
                 role=role)
    own = course_b.permissions_for_user(user)
    assert own.can_edit() and not own.can_publish()
    assert course_b.get_parent().permissions_for_user(user).can_add_subpage()
    theirs = course_a.permissions_for_user(user)
    assert not theirs.can_edit() and not theirs.can_publish()
    assert not course_a.get_parent().permissions_for_user(user).can_add_subpage()
    assert not course_a.get_parent().get_parent().permissions_for_user(user).can_add_subpage()  # not the index
    client.force_login(user)
    assert client.get(f"/admin/pages/{course_b.pk}/edit/").status_code == 200
    response = client.get(f"/admin/pages/{course_a.pk}/edit/")
    assert response.status_code in (302, 403)
    assert course_a.title not in response.content.decode()
    add_to_a = client.get(f"/admin/pages/add/courses/coursepage/{course_a.get_parent().pk}/")
    assert add_to_a.status_code in (302, 403)


def test_membership_changes_keep_the_group_in_step(partners):
    a, _b, course_a, _course_b = partners
    user = staff("a-manager", "Partner manager", partner=a)
    group = Group.objects.get(name=partner_editors_group_name(a.pk))
    assert list(group.user_set.all()) == [user]
    membership = user.partner_memberships.get()
    remove_membership(membership=membership)
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached on the instance
    assert not course_a.permissions_for_user(user).can_edit()
    assert not group.user_set.exists()


def test_deactivating_a_partner_in_the_admin_removes_page_access(client, partners):
    a, _b, course_a, _course_b = partners
    user = staff("a-manager", "Partner manager", partner=a)
    admin = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(admin)
    response = client.get(f"/admin/snippets/partners/partner/edit/{a.pk}/")
    assert response.status_code == 200
    form = response.context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.pop("is_active", None)
    assert client.post(f"/admin/snippets/partners/partner/edit/{a.pk}/", data).status_code == 302
    a.refresh_from_db()
    assert not a.is_active
    user = get_user_model().objects.get(pk=user.pk)
    assert not course_a.permissions_for_user(user).can_edit()


def test_partner_draft_goes_live_only_after_city_approval(partners):
    a, _b, course_a, _course_b = partners
    manager = staff("a-manager", "Partner manager", partner=a)
    officer = staff("officer", "City programme officer")
    workflow = course_a.get_workflow()
    assert workflow is not None and workflow.name == COURSE_WORKFLOW

    page = course_a.specific
    page.title = "新しい題名"
    revision = page.save_revision(user=manager)
    state = workflow.start(page, manager)
    page.refresh_from_db()
    assert Page.objects.get(pk=page.pk).title != "新しい題名"  # the live page is unchanged
    task = state.current_task_state.task.specific
    assert [name for name, *_ in task.get_actions(page, manager)] == []  # partner staff cannot approve
    assert "approve" in [name for name, *_ in task.get_actions(page, officer)]

    # Sent back with a comment first, then approved after a fix.
    task.on_action(state.current_task_state, officer, "reject", comment="開催日を本文に書いてください")
    state.refresh_from_db()
    assert state.status == state.STATUS_NEEDS_CHANGES
    assert state.current_task_state.comment == "開催日を本文に書いてください"
    page.title = "新しい題名（開催日つき）"
    page.save_revision(user=manager)
    state.resume(manager)
    state.refresh_from_db()
    task.on_action(state.current_task_state, officer, "approve", comment="")
    page.refresh_from_db()
    assert page.title == "新しい題名（開催日つき）" and page.live
    assert revision.pk  # the revision the partner drafted


def test_city_staff_publish_directly(partners):
    _a, _b, course_a, _course_b = partners
    officer = staff("officer", "City programme officer")
    assert course_a.permissions_for_user(officer).can_publish()
