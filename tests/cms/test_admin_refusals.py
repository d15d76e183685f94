"""An admin page a role may not open answers 403 with the reason (cms.admin_refusals), not a silent trip back to
the admin home; pages the role may open, and Dekiru's own 403s, are left as they are."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles

pytestmark = pytest.mark.django_db


def staff(role, language="ja"):
    user = get_user_model().objects.create_user(f"u-{role.split()[-1].lower()}", password="pw")
    user.groups.add(Group.objects.get(name=role))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


def test_an_analyst_asking_for_a_new_session_is_told_why_in_japanese(client, site):
    client.force_login(staff(roles.CITY_ANALYST))
    response = client.get("/admin/sessions/new/")
    assert response.status_code == 403
    content = response.content.decode()
    assert "data-refused" in content and "/admin/sessions/new/" in content
    assert "このページを開く権限がありません" in content and "市の分析担当者" in content
    # The refusal is not queued again for the next page.
    home = client.get("/admin/").content.decode()
    assert "権限がありません" not in home


def test_in_english_too(client, site):
    client.force_login(staff(roles.CITY_ANALYST, "en"))
    response = client.get("/admin/sessions/new/")
    assert response.status_code == 403
    assert "Your role does not allow you to open this page." in response.content.decode()


def test_pages_the_role_may_open_and_anonymous_visitors_are_unchanged(client, site):
    assert client.get("/admin/sessions/new/").status_code == 302  # to the login page
    client.force_login(staff(roles.CITY_ANALYST))
    assert client.get("/admin/sessions/").status_code == 200
    assert client.get("/admin/outreach/dashboard/").status_code == 200

