"""Staff accounts when someone leaves (partners.access_review.deactivate_staff, the admin page) and the access
review report with its CSV; city administrators only."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from cms import roles
from cms.roles import partner_editors_group_name
from partners import access_review, services
from partners.admin.staff import end_memberships_of_deactivated_user
from partners.feeds import get_or_create_feed
from partners.models import PartnerMembership, StaffCalendarFeed
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
REVIEW = reverse("partners_access_review")
REVIEW_CSV = reverse("partners_access_review_csv")


def staff(username, role=None, *partners, membership="manager", **fields):
    user = get_user_model().objects.create_user(username, password="pw", **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    for partner in partners:
        add_membership(partner=partner, user=user, role=membership)
    return user


def deactivate_url(user):
    return reverse("partners_staff_deactivate", args=[user.pk])


@pytest.fixture
def leaver(site):
    """An instructor of two partners, with a calendar feed for each."""
    a, b = factories.partner(), factories.partner()
    user = staff("leaver", roles.PARTNER_INSTRUCTOR, a, b, membership="instructor")
    for membership in user.partner_memberships.all():
        get_or_create_feed(membership=membership)
    return user, a, b


def test_deactivating_switches_off_the_account_and_ends_memberships(client, leaver):
    user, a, b = leaver
    leaver_client = client.__class__()
    leaver_client.force_login(user)
    assert leaver_client.get("/admin/").status_code == 200
    admin = staff("admin", roles.CITY_ADMINISTRATOR)
    client.force_login(admin)
    page = client.get(deactivate_url(user))
    assert page.status_code == 200 and str(a) in page.content.decode()

    response = client.post(deactivate_url(user), {"confirm": "on"})

    assert response.status_code == 302 and response["Location"] == REVIEW
    user.refresh_from_db()
    assert not user.is_active
    assert not PartnerMembership.objects.filter(user=user).exists()
    assert not StaffCalendarFeed.objects.filter(membership__user=user).exists()
    for partner in (a, b):  # page access follows the memberships
        assert not Group.objects.get(name=partner_editors_group_name(partner.pk)).user_set.filter(pk=user.pk).exists()
    assert user.groups.filter(name=roles.PARTNER_INSTRUCTOR).exists()  # the role stays on record
    entry = ModelLogEntry.objects.get(action=access_review.DEACTIVATE_LOG_ACTION)
    assert entry.user_id == admin.pk and sorted(entry.data["memberships_ended"]) == sorted([a.pk, b.pk])
    assert ModelLogEntry.objects.filter(action="wagtail.delete", content_type__model="partnermembership").count() == 2
    # Signed out at once: the next request is sent to the login page.
    response = leaver_client.get("/admin/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_confirmation_is_required(client, leaver):
    user, _a, _b = leaver
    client.force_login(staff("admin", roles.CITY_ADMINISTRATOR))
    assert client.post(deactivate_url(user), {}).status_code == 400
    user.refresh_from_db()
    assert user.is_active and user.partner_memberships.count() == 2


def test_one_transaction(leaver, monkeypatch):
    user, _a, _b = leaver
    calls = []

    def failing_remove(*, membership, actor=None):
        calls.append(membership.pk)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        services.remove_membership(membership=membership, actor=actor)

    monkeypatch.setattr(access_review, "remove_membership", failing_remove)
    with pytest.raises(RuntimeError):
        access_review.deactivate_staff(user=user)
    user.refresh_from_db()
    assert user.is_active and user.partner_memberships.count() == 2
    assert StaffCalendarFeed.objects.filter(membership__user=user).count() == 2


def test_cannot_deactivate_oneself_or_a_superuser(client, site):
    admin = staff("admin", roles.CITY_ADMINISTRATOR)
    root = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(admin)
    assert client.post(deactivate_url(admin), {"confirm": "on"}).status_code == 400
    assert client.post(deactivate_url(root), {"confirm": "on"}).status_code == 400
    admin.refresh_from_db()
    root.refresh_from_db()
    assert admin.is_active and root.is_active


def test_deactivating_twice_is_harmless(leaver):
    user, _a, _b = leaver
    first = access_review.deactivate_staff(user=user)
    second = access_review.deactivate_staff(user=user)
    assert (len(first.ended_memberships), first.was_active) == (2, True)
    assert (second.ended_memberships, second.was_active) == ([], False)
    assert ModelLogEntry.objects.filter(action=access_review.DEACTIVATE_LOG_ACTION).count() == 1


def test_switched_off_on_wagtails_user_page_also_ends_memberships(rf, leaver):
    user, _a, _b = leaver
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()
    request = rf.post("/admin/users/")
    request.user = staff("admin", roles.CITY_ADMINISTRATOR)
    end_memberships_of_deactivated_user(request, user)
    assert not PartnerMembership.objects.filter(user=user).exists()


# --- Who may use the pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.CALL_CENTRE_OPERATOR,
                                  roles.PARTNER_MANAGER])
def test_only_city_administrators(client, leaver, role):
    user, _a, b = leaver
    partner_b_staff = staff("someone", role, *([b] if role == roles.PARTNER_MANAGER else []))
    client.force_login(partner_b_staff)
    assert client.get(REVIEW).status_code == 403
    assert client.get(REVIEW_CSV).status_code == 403
    assert client.get(deactivate_url(user)).status_code == 403
    assert client.post(deactivate_url(user), {"confirm": "on"}).status_code == 403
    user.refresh_from_db()
    assert user.is_active and user.partner_memberships.count() == 2
    assert REVIEW not in client.get("/admin/").content.decode()


def test_unknown_or_inactive_account_is_404(client, site):
    gone = staff("gone", is_active=False)
    client.force_login(staff("admin", roles.CITY_ADMINISTRATOR))
    assert client.get(deactivate_url(gone)).status_code == 404
    assert client.get(reverse("partners_staff_deactivate", args=[99999])).status_code == 404


# --- The access review ------------------------------------------------------------------------------------------


@pytest.fixture
def team(site):
    a, b = factories.partner(), factories.partner()
    admin = staff("admin", roles.CITY_ADMINISTRATOR, first_name="Aiko", last_name="Admin")
    manager = staff("manager", roles.PARTNER_MANAGER, a)
    both = staff("both", roles.PARTNER_INSTRUCTOR, a, b, membership="instructor")
    operator = staff("operator", roles.CALL_CENTRE_OPERATOR)
    staff("left", roles.PARTNER_MANAGER, b, is_active=False)
    get_user_model().objects.filter(pk=manager.pk).update(last_login=timezone.now())
    return {"a": a, "b": b, "admin": admin, "manager": manager, "both": both, "operator": operator}


def test_review_lists_every_active_account(client, team):
    a, b = team["a"], team["b"]
    rows = {row.user.username: row for row in access_review.access_review()}
    assert set(rows) == {"admin", "manager", "both", "operator"}  # not the one who left
    assert rows["admin"].all_partners and rows["operator"].all_partners
    assert rows["admin"].roles == [str(access_review.ROLE_LABELS[roles.CITY_ADMINISTRATOR])]
    assert not rows["manager"].all_partners
    assert rows["manager"].partners == [f"{a} ({PartnerMembership.Role.MANAGER.label})"]
    # Not the technical page-permission group of the partner.
    assert rows["manager"].roles == [str(access_review.ROLE_LABELS[roles.PARTNER_MANAGER])]
    assert len(rows["both"].partners) == 2
    assert rows["manager"].last_login is not None and rows["both"].last_login is None
    assert rows["admin"].two_factor is False and rows["admin"].two_factor_required is False  # test settings
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=team["manager"], name="authenticator", confirmed=True)
    TOTPDevice.objects.create(user=team["both"], name="authenticator", confirmed=False)  # set-up never finished
    rows = {row.user.username: row for row in access_review.access_review()}
    assert rows["manager"].two_factor is True and rows["both"].two_factor is False

    client.force_login(team["admin"])
    body = client.get(REVIEW).content.decode()
    for text in ("manager", "operator", str(a), str(b), deactivate_url(team["manager"]),
                 reverse("two_factor_reset", args=[team["manager"].pk])):
        assert text in body, text
    assert deactivate_url(team["admin"]) not in body  # not oneself
    assert reverse("two_factor_reset", args=[team["admin"].pk]) not in body
    assert reverse("two_factor_reset", args=[team["both"].pk]) not in body  # nothing to reset


def test_review_csv(client, team):
    client.force_login(team["admin"])
    response = client.get(REVIEW_CSV)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="access-review-')
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 4
    by_user = {row[0]: row for row in rows[1:]}
    assert by_user["admin"][1] == "Aiko Admin"
    assert by_user["admin"][4] == by_user["operator"][4] != by_user["manager"][4]
    assert str(team["a"]) in by_user["manager"][4] and str(team["b"]) not in by_user["manager"][4]
    assert by_user["both"][5] == by_user["operator"][5]  # never signed in


def test_review_costs_the_same_queries_for_3_or_10_users(client, site, django_assert_num_queries):
    partner = factories.partner()
    admin = staff("admin", roles.CITY_ADMINISTRATOR)
    staff("m0", roles.PARTNER_MANAGER, partner)
    staff("o0", roles.CALL_CENTRE_OPERATOR)
    with django_assert_num_queries(3):
        assert len(access_review.access_review()) == 3
    client.force_login(admin)
    with CaptureQueriesContext(connection) as three:
        assert client.get(REVIEW).status_code == 200

    other = factories.partner()
    for n in range(1, 8):
        staff(f"m{n}", roles.PARTNER_MANAGER if n % 2 else roles.PARTNER_INSTRUCTOR, partner, other)
    with django_assert_num_queries(3):
        assert len(access_review.access_review()) == 10
    with CaptureQueriesContext(connection) as ten:
        assert client.get(REVIEW).status_code == 200
    assert len(ten) == len(three)
    with CaptureQueriesContext(connection) as csv_ten:
        client.get(REVIEW_CSV)
    assert len(csv_ten) <= len(ten)
