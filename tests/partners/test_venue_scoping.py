"""Venues in the admin: partner staff see their own partners' venues and the city's, and change only their own."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from partners.models import Venue
from partners.services import add_membership
from tests import factories

pytestmark = pytest.mark.django_db
BASE = "/admin/snippets/partners/venue"


@pytest.fixture
def setup(client, site):
    a, b = factories.partner(), factories.partner()
    theirs = factories.venue(partner=a, name="A社の会議室")
    mine = factories.venue(partner=b, name="B社の教室")
    city = factories.venue(name="市民館（市）")
    user = get_user_model().objects.create_user("b-manager", password="pw")
    user.groups.add(Group.objects.get(name="Partner manager"))
    add_membership(partner=b, user=user, role="manager")
    client.force_login(user)
    return {"a": a, "b": b, "theirs": theirs, "mine": mine, "city": city}


def test_listing_shows_own_and_city_venues_only(client, setup):
    body = client.get(f"{BASE}/").content.decode()
    assert "B社の教室" in body and "市民館（市）" in body and "A社の会議室" not in body
    assert "A社の会議室" not in client.get(f"{BASE}/?q=会議室").content.decode()


def test_another_partners_venue_cannot_be_opened_or_changed(client, setup):
    theirs = setup["theirs"]
    for path in (f"edit/{theirs.pk}/", f"delete/{theirs.pk}/", f"history/{theirs.pk}/", f"usage/{theirs.pk}/"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code in (302, 403, 404), path
        assert "A社の会議室" not in response.content.decode()
        client.post(f"{BASE}/{path}", {"name": "乗っ取り"})
    theirs.refresh_from_db()
    assert theirs.name == "A社の会議室" and Venue.objects.filter(pk=theirs.pk).exists()
    # The city's venue is for everyone to use, not for partner staff to change.
    assert client.get(f"{BASE}/edit/{setup['city'].pk}/").status_code in (302, 403, 404)


def test_own_venue_can_be_edited_and_new_ones_belong_to_the_partner(client, setup):
    assert client.get(f"{BASE}/edit/{setup['mine'].pk}/").status_code == 200
    form = client.get(f"{BASE}/add/").context["form"]
    assert list(form.fields["partner"].queryset) == [setup["b"]]
    assert form.fields["partner"].required
