"""Monthly budgets and caps per paid channel (courses.channel_budget): the month is the calendar month in Japan, SMS
cost is segments × price against a budget in yen, LINE counts messages against the plan's quota; no setting = no cap;
staff are warned from the warning share; the answer is cached per process;
the first cap of a month is audited once."""

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from courses import channel_budget
from courses.models import OutgoingMessage
from tests.clock import frozen_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel
TOKYO = ZoneInfo("Asia/Tokyo")
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_cache():
    channel_budget.reset_cache()
    yield
    channel_budget.reset_cache()


@pytest.fixture
def budgets(settings):
    settings.DEKIRU_SMS_MONTHLY_BUDGET_YEN = 100
    settings.DEKIRU_SMS_YEN_PER_SEGMENT = 8
    settings.DEKIRU_LINE_MONTHLY_QUOTA = 10
    settings.DEKIRU_CHANNEL_BUDGET_WARN_SHARE = 0.8
    return settings


def sent(channel, units, at, *, status=Status.SENT, **fields):
    """A message of `channel` counted at `at`: sent then, or (status sending) claimed then."""
    message = OutgoingMessage.objects.create(
        key=f"test:{next(_keys)}", kind=Kind.CONFIRMED, channel=channel, status=status, units=units,
        sent_at=at if status == Status.SENT else None, to_phone="09012345678", **fields)
    OutgoingMessage.objects.filter(pk=message.pk).update(updated_at=at)
    return message


def tokyo(*args):
    return datetime(*args, tzinfo=TOKYO)


def usage(channel, **kwargs):
    return {u.channel: u for u in channel_budget.month_usage(**kwargs)}[channel]


# --- The month ---------------------------------------------------------------------------------------------------


def test_the_month_is_the_calendar_month_in_japan():
    # 23:30 UTC on 30 November is already 1 December in Tokyo.
    start, end = channel_budget.month_bounds(datetime(2026, 11, 30, 23, 30, tzinfo=ZoneInfo("UTC")))
    assert start == tokyo(2026, 12, 1) and end == tokyo(2027, 1, 1)
    start, end = channel_budget.month_bounds(tokyo(2027, 1, 31, 23, 59, 59))
    assert start == tokyo(2027, 1, 1) and end == tokyo(2027, 2, 1)


def test_messages_count_in_the_japanese_month_they_were_sent(budgets):
    sent(Channel.SMS, 2, tokyo(2026, 11, 30, 23, 59, 59))  # November in Japan
    sent(Channel.SMS, 3, tokyo(2026, 12, 1, 0, 0))  # the first second of December
    sent(Channel.SMS, 4, tokyo(2026, 12, 31, 23, 59, 59))
    sent(Channel.SMS, 5, tokyo(2027, 1, 1, 0, 0))  # January
    december = usage(Channel.SMS, now=tokyo(2026, 12, 15, 12))
    assert (december.messages, december.units, december.cost_yen) == (2, 7, Decimal(56))
    assert usage(Channel.SMS, now=tokyo(2026, 11, 30, 23, 59, 59)).units == 2
    assert usage(Channel.SMS, now=tokyo(2027, 1, 1)).units == 5


def test_only_sent_and_sending_messages_count(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 2, at)
    sent(Channel.SMS, 3, at, status=Status.SENDING)  # being sent now: counts in the month of its claim
    sent(Channel.SMS, 4, at, status=Status.PENDING)
    sent(Channel.SMS, 5, at, status=Status.FAILED)
    sent(Channel.SMS, 6, at, status=Status.CANCELLED)
    sent(Channel.SMS, None, at)  # units not known: counts as a message, no units
    sent(Channel.EMAIL, None, at)
    sms = usage(Channel.SMS, now=at)
    assert (sms.messages, sms.units) == (3, 5)
    assert usage(Channel.LINE, now=at).messages == 0


# --- Caps at the boundary ----------------------------------------------------------------------------------------


def test_the_sms_cap_is_reached_when_the_cost_reaches_the_budget(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 12, at)  # 96 yen of 100
    assert not channel_budget.over_cap(Channel.SMS, now=at)
    channel_budget.reset_cache()
    sent(Channel.SMS, 1, at)  # 104 yen
    assert channel_budget.over_cap(Channel.SMS, now=at)
    assert not channel_budget.over_cap(Channel.LINE, now=at)
    assert not channel_budget.over_cap(Channel.EMAIL, now=at)
    assert not channel_budget.over_cap(Channel.PHONE, now=at)


def test_exactly_the_budget_is_the_cap(budgets):
    at = tokyo(2026, 12, 10, 9)
    budgets.DEKIRU_LINE_MONTHLY_QUOTA = 5
    sent(Channel.LINE, 4, at)
    assert not channel_budget.over_cap(Channel.LINE, now=at)
    channel_budget.reset_cache()
    sent(Channel.LINE, 1, at)
    assert channel_budget.over_cap(Channel.LINE, now=at)
    line = usage(Channel.LINE, now=at)
    assert (line.units, line.budget, line.share_used, line.cost_yen) == (5, 5, 1.0, None)


def test_a_new_month_in_japan_starts_the_budget_afresh(budgets):
    sent(Channel.SMS, 20, tokyo(2026, 12, 31, 23, 0))
    with frozen_at(tokyo(2026, 12, 31, 23, 59, 59)):
        assert channel_budget.over_cap(Channel.SMS)
    # One second later it is January in Tokyo (still 31 December in UTC): the cached December answer is not used.
    with frozen_at(tokyo(2027, 1, 1, 0, 0, 0)):
        assert timezone.now().astimezone(ZoneInfo("UTC")).day == 31
        assert not channel_budget.over_cap(Channel.SMS)


def test_without_budgets_nothing_is_capped_and_nothing_is_asked(settings, django_assert_num_queries):
    settings.DEKIRU_SMS_MONTHLY_BUDGET_YEN = None
    settings.DEKIRU_LINE_MONTHLY_QUOTA = 0
    sent(Channel.SMS, 500, timezone.now())
    with django_assert_num_queries(0):
        assert not channel_budget.over_cap(Channel.SMS)
        assert not channel_budget.over_cap(Channel.LINE)
    sms = usage(Channel.SMS)
    assert (sms.budget, sms.share_used, sms.over_cap, sms.warn, sms.message) == (None, None, False, False, "")
    assert sms.cost_yen == Decimal(4000)


def test_staff_are_warned_from_the_warning_share(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.LINE, 7, at)
    line = usage(Channel.LINE, now=at)
    assert not line.warn and line.message == ""
    sent(Channel.LINE, 1, at)
    line = usage(Channel.LINE, now=at)
    assert line.warn and not line.over_cap and line.percent_used == 80
    assert "80%" in line.message
    budgets.DEKIRU_CHANNEL_BUDGET_WARN_SHARE = 0.9
    assert not usage(Channel.LINE, now=at).warn


def test_the_warning_names_the_month_in_the_staff_language(budgets):
    from django.utils import translation

    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 13, at)
    sms = usage(Channel.SMS, now=at)
    with translation.override("en"):
        assert sms.message == "SMS budget for December reached: messages now go by e-mail or the call list."
    with translation.override("ja"):
        assert "12月" in sms.message and "SMS" in sms.message


# --- Cost of asking ----------------------------------------------------------------------------------------------


def test_one_query_for_all_channels_then_cached_until_reset(budgets, django_assert_num_queries):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 1, at)
    with django_assert_num_queries(1):
        channel_budget.month_usage(now=at)
    with django_assert_num_queries(1):
        for _ in range(5):
            assert not channel_budget.over_cap(Channel.SMS, now=at)
            assert not channel_budget.over_cap(Channel.LINE, now=at)
    sent(Channel.SMS, 20, at)
    assert not channel_budget.over_cap(Channel.SMS, now=at)  # cached: the new messages are not seen yet
    channel_budget.reset_cache()
    assert channel_budget.over_cap(Channel.SMS, now=at)


def test_the_cache_expires(budgets, monkeypatch):
    at = tokyo(2026, 12, 10, 9)
    assert not channel_budget.over_cap(Channel.SMS, now=at)
    sent(Channel.SMS, 20, at)
    clock = channel_budget.time.monotonic() + channel_budget.CACHE_SECONDS + 1
    monkeypatch.setattr(channel_budget.time, "monotonic", lambda: clock)
    assert channel_budget.over_cap(Channel.SMS, now=at)


# --- Audit --------------------------------------------------------------------------------------------------------


def test_a_reached_cap_is_written_to_the_audit_log_once_a_month(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 20, at)
    for _ in range(3):
        assert channel_budget.over_cap(Channel.SMS, now=at)
        channel_budget.reset_cache()  # a new process, or the cache expired: the log still has it once
    entries = ModelLogEntry.objects.filter(action=channel_budget.AUDIT_ACTION)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.data["channel"] == "sms" and entry.data["month"] == "2026-12" and entry.data["budget"] == 100
    assert "09012345678" not in entry.label  # no personal data in the log
    sent(Channel.SMS, 20, tokyo(2027, 1, 2))
    assert channel_budget.over_cap(Channel.SMS, now=tokyo(2027, 1, 2))
    assert entries.count() == 2


def test_the_panel_context_lists_usage_and_warnings(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 13, at)
    context = channel_budget.usage_panel_context(now=at)
    assert [u.channel for u in context["channel_usages"]] == [Channel.SMS, Channel.LINE]
    assert len(context["channel_warnings"]) == 1
    assert context["channel_month_start"] == tokyo(2026, 12, 1)


def test_sending_messages_count_in_the_month_they_were_claimed(budgets):
    claimed = tokyo(2026, 12, 1, 0, 0, 1)
    sent(Channel.LINE, 10, claimed, status=Status.SENDING)
    assert channel_budget.over_cap(Channel.LINE, now=claimed + timedelta(minutes=1))
    channel_budget.reset_cache()
    assert not channel_budget.over_cap(Channel.LINE, now=tokyo(2026, 11, 30, 23, 59))


# --- The staff warning on the admin home -------------------------------------------------------------------------


def staff(role):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from partners.services import add_membership
    from tests import factories

    user = get_user_model().objects.create_user(username=f"staff{next(_keys)}", password="x")
    user.groups.add(Group.objects.get(name=role))
    if role.startswith("Partner"):
        add_membership(partner=factories.partner(), user=user, role="manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"  # the admin speaks the user's language: assert on English text
    profile.save()
    return user


@pytest.mark.parametrize(("role", "shown"), [
    ("City administrator", True), ("City programme officer", True), ("Partner manager", False)])
def test_the_admin_home_warns_city_staff_when_a_cap_is_reached(client, site, budgets, role, shown):
    sent(Channel.SMS, 13, timezone.now())
    client.force_login(staff(role))
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert ("budget for" in html and "reached: messages now go by e-mail or the call list" in html) == shown
    assert ("channel-usage-table" in html) == shown


def test_changing_a_budget_forgets_the_cached_answer(budgets):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 10, at)  # 80 yen of 100
    assert not channel_budget.over_cap(Channel.SMS, now=at)
    budgets.DEKIRU_SMS_MONTHLY_BUDGET_YEN = 50  # no reset_cache(): the setting_changed signal does it
    assert channel_budget.over_cap(Channel.SMS, now=at)


def test_the_message_log_context_is_for_city_staff_only(site, budgets, django_assert_num_queries):
    at = tokyo(2026, 12, 10, 9)
    sent(Channel.SMS, 13, at)
    assert channel_budget.usage_panel_context_for(staff("Partner manager"), now=at) == {}
    context = channel_budget.usage_panel_context_for(staff("City administrator"), now=at)
    assert context["channel_warnings"] and len(context["channel_usages"]) == 2


def test_the_admin_home_warning_in_japanese(client, site, budgets):
    sent(Channel.SMS, 13, timezone.now())
    user = staff("City administrator")
    UserProfile.objects.filter(user=user).update(preferred_language="ja")
    client.force_login(user)
    html = client.get("/admin/").content.decode()
    month = timezone.localtime().month
    assert f"{month}月のSMSの予算に達しました。お知らせは、メールまたは電話連絡リストで送られます。" in html
