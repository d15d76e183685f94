"""The audit log keeps no personal data, and partner staff are kept out of the site-wide history report."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.models import ModelLogEntry

from courses import services
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_booking_log_entries_name_nobody(site):
    session = factories.session(capacity=1)
    first = services.register(session=session, participant=services.ParticipantDetails(
        name="記録 太郎", kana="キロク タロウ", email="kiroku@example.jp", age_band="70-74", consent=True))
    services.register(session=session, participant=services.ParticipantDetails(
        name="記録 次郎", kana="キロク ジロウ", phone="09012121212", age_band="75-79", consent=True))
    services.cancel_registration(registration=first.registration)
    labels = list(ModelLogEntry.objects.values_list("label", flat=True))
    assert labels and any(label.startswith("Registration ") for label in labels)
    assert not any(("記録" in label or "kiroku" in label or "09012121212" in label) for label in labels)


def test_site_history_is_for_city_staff_only(client, site):
    partner = factories.partner()
    manager = get_user_model().objects.create_user("m", password="pw")
    manager.groups.add(Group.objects.get(name="Partner manager"))
    add_membership(partner=partner, user=manager, role="manager")
    client.force_login(manager)
    assert client.get("/admin/reports/site-history/").status_code == 403
    assert "/admin/reports/site-history/" not in client.get("/admin/").content.decode()
    officer = get_user_model().objects.create_user("o", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    assert client.get("/admin/reports/site-history/").status_code == 200
