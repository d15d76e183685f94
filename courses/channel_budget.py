"""Monthly budgets and caps per paid channel: SMS costs money per segment, LINE push has a monthly quota.

Settings (none given = no cap, the channel is never held back):
- `DEKIRU_SMS_MONTHLY_BUDGET_YEN`: the month's SMS budget in yen (None or 0: no cap), with
  `DEKIRU_SMS_YEN_PER_SEGMENT` the price of one segment (default 8). The month's cost is the segments
  (`OutgoingMessage.units`) of the SMS sent or being sent this month times the price.
- `DEKIRU_LINE_MONTHLY_QUOTA`: the LINE messages the city's plan allows per month (None or 0: no cap). The month's use
  is the LINE messages (`units`) pushed or being pushed this month.
- `DEKIRU_CHANNEL_BUDGET_WARN_SHARE`: the share of a budget from which staff are warned (default 0.8).

The month is the calendar month in the project's time zone (Asia/Tokyo): the budget starts afresh at midnight on the
first in Japan. A message counts in the month it was sent (`sent_at`); one being sent now (status `sending`) counts in
the month of its claim (`updated_at`), so a cap holds while workers are sending. Units left unknown count as 0.

`over_cap(channel)` is asked by the outbox each time it picks a channel (courses.outbox.channel_for): the answer comes
from one aggregate query for all channels, kept per process for `CACHE_SECONDS` (a cap may be overshot by what is sent
in that time; `reset_cache()` forgets it, for tests and after a change of settings). When a cap is reached, messages
fall back to the next channel (e-mail, else the call list) and staff are warned on the admin home and in the message
log (`usage_panel_context`, template courses/admin/_channel_usage.html); the first time a cap is seen reached in a month
is written once to the audit log (action `courses.channel_budget.cap_reached`).
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.dispatch import receiver
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from wagtail.models import ModelLogEntry

from cms.audit import log
from cms.roles import is_city_staff
from courses.models import OutgoingMessage

logger = logging.getLogger(__name__)

Channel, Status = OutgoingMessage.Channel, OutgoingMessage.Status

# The channels with a cost or a quota, in the order they are shown.
CAPPED_CHANNELS = (Channel.SMS, Channel.LINE)
# What counts as used: sent, or handed to a worker that is sending it now.
COUNTED_STATUSES = (Status.SENT, Status.SENDING)
CACHE_SECONDS = 60
AUDIT_ACTION = "courses.channel_budget.cap_reached"


def _setting(name: str, default=None):
    return getattr(settings, name, default)


def sms_budget_yen() -> int | None:
    """The month's SMS budget in yen; None when there is no cap (unset or 0)."""
    return int(_setting("DEKIRU_SMS_MONTHLY_BUDGET_YEN") or 0) or None


def sms_yen_per_segment() -> Decimal:
    return Decimal(str(_setting("DEKIRU_SMS_YEN_PER_SEGMENT", 8) or 0))


def line_quota() -> int | None:
    """The LINE messages allowed per month; None when there is no cap (unset or 0)."""
    return int(_setting("DEKIRU_LINE_MONTHLY_QUOTA") or 0) or None


def warn_share() -> float:
    return float(_setting("DEKIRU_CHANNEL_BUDGET_WARN_SHARE", 0.8))


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of this calendar month and of the next, in the project's time zone (aware datetimes)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(year=start.year + 1, month=1) if start.month == 12
                 else start.replace(month=start.month + 1))
    tz = timezone.get_current_timezone()
    return (timezone.make_aware(start.replace(tzinfo=None), tz),
            timezone.make_aware(following.replace(tzinfo=None), tz))


@dataclass(frozen=True)
class Usage:
    """One channel's use this month against its budget."""

    channel: str
    messages: int
    units: int
    cost_yen: Decimal | None  # SMS: units × price; None for a channel without a price (LINE counts messages)
    budget: int | None  # yen for SMS, messages for LINE; None = no cap
    budget_unit: str  # "yen" or "messages"
    share_used: float | None  # of the budget, 0…; None without a cap
    over_cap: bool
    warn: bool  # at or above the warning share (also true when over the cap)
    month_start: datetime

    @property
    def label(self) -> str:
        return str(Channel(self.channel).label)

    @property
    def used(self) -> Decimal | int:
        """What is measured against the budget: yen for SMS, messages for LINE."""
        return self.cost_yen if self.budget_unit == "yen" else self.units

    @property
    def percent_used(self) -> int | None:
        return None if self.share_used is None else int(self.share_used * 100)

    @property
    def month_name(self) -> str:
        return formats.date_format(timezone.localtime(self.month_start), "F")

    @property
    def message(self) -> str:
        """The staff warning for this channel, or "" when none is due."""
        if self.over_cap:
            if self.channel == Channel.SMS:
                return _("SMS budget for %(month)s reached: messages now go by e-mail or the call list.") % {
                    "month": self.month_name}
            return _("LINE message quota for %(month)s reached: messages now go by e-mail, SMS or the call list."
                     ) % {"month": self.month_name}
        if self.warn:
            if self.channel == Channel.SMS:
                return _("%(percent)s%% of the SMS budget for %(month)s is used.") % {
                    "percent": self.percent_used, "month": self.month_name}
            return _("%(percent)s%% of the LINE message quota for %(month)s is used.") % {
                "percent": self.percent_used, "month": self.month_name}
        return ""


def _aggregate(now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """{channel: (messages, units)} this month for the paid channels: one query."""
    start, end = month_bounds(now)
    when = Coalesce("sent_at", "updated_at")
    rows = (OutgoingMessage.objects
            .filter(channel__in=CAPPED_CHANNELS, status__in=COUNTED_STATUSES)
            .alias(counted_at=when).filter(counted_at__gte=start, counted_at__lt=end)
            .values("channel").order_by()
            .annotate(messages=Count("pk"), units=Coalesce(Sum("units"), 0)))
    found = {row["channel"]: (row["messages"], row["units"]) for row in rows}
    return {channel: found.get(channel, (0, 0)) for channel in CAPPED_CHANNELS}


def month_usage(*, now: datetime | None = None) -> list["Usage"]:
    """This month's use of each paid channel against its budget (one database query, not cached)."""
    counts = _aggregate(now)
    start, _end = month_bounds(now)
    return [_usage(channel, *counts[channel], month_start=start) for channel in CAPPED_CHANNELS]


def _usage(channel: str, messages: int, units: int, *, month_start: datetime) -> Usage:
    if channel == Channel.SMS:
        cost = sms_yen_per_segment() * units
        budget, unit, used = sms_budget_yen(), "yen", cost
    else:
        cost, budget, unit, used = None, line_quota(), "messages", units
    share = None if not budget else float(used) / budget
    over = share is not None and share >= 1
    warn = share is not None and share >= warn_share()
    return Usage(channel=channel, messages=messages, units=units, cost_yen=cost, budget=budget, budget_unit=unit,
                 share_used=share, over_cap=over, warn=warn, month_start=month_start)


# The per-process cache of the last aggregate: (monotonic time taken, month start, {channel: Usage}).
_cache: dict = {}
_lock = threading.Lock()
# The months whose cap was already written to the audit log by this process, per channel (the log itself is the
# lasting record; this only spares the query).
_audited: set[tuple[str, str]] = set()


def reset_cache() -> None:
    """Forget the cached usage (tests; after changing a budget)."""
    with _lock:
        _cache.clear()
        _audited.clear()


BUDGET_SETTINGS = {"DEKIRU_SMS_MONTHLY_BUDGET_YEN", "DEKIRU_SMS_YEN_PER_SEGMENT", "DEKIRU_LINE_MONTHLY_QUOTA",
                   "DEKIRU_CHANNEL_BUDGET_WARN_SHARE"}


@receiver(setting_changed)
def _budget_setting_changed(*, setting, **kwargs):
    """A budget changed (tests' `settings` fixture, override_settings): the cached answer is forgotten, so that a
    test's messages are never judged by the previous test's."""
    if setting in BUDGET_SETTINGS:
        reset_cache()


def _cached_usage(now: datetime | None) -> dict[str, Usage]:
    start, _end = month_bounds(now)
    with _lock:
        entry = _cache.get("usage")
        if entry and entry[1] == start and time.monotonic() - entry[0] < CACHE_SECONDS:
            return entry[2]
    by_channel = {usage.channel: usage for usage in month_usage(now=now)}
    with _lock:
        _cache["usage"] = (time.monotonic(), start, by_channel)
    return by_channel


def over_cap(channel: str, *, now: datetime | None = None) -> bool:
    """True when this month's use of the channel has reached its cap (SMS budget in yen, LINE monthly quota).
    Channels without a cost (e-mail, phone) and channels without a configured cap are never over it. Cheap: no query
    when no cap is configured, else one aggregate query per process every CACHE_SECONDS."""
    if channel == Channel.SMS:
        if sms_budget_yen() is None:
            return False
    elif channel == Channel.LINE:
        if line_quota() is None:
            return False
    else:
        return False
    usage = _cached_usage(now)[channel]
    if usage.over_cap:
        _audit_once(usage)
    return usage.over_cap


def _audit_once(usage: Usage) -> None:
    """Write the first sighting of a reached cap in a month to the audit log, once (best effort: never in the way of
    sending)."""
    month = timezone.localtime(usage.month_start).strftime("%Y-%m")
    marker = (usage.channel, month)
    if marker in _audited:
        return
    try:
        message = (OutgoingMessage.objects.filter(channel=usage.channel, status__in=COUNTED_STATUSES)
                   .order_by("-pk").first())
        if message is None:
            return
        # A savepoint: the outbox asks inside the transaction of a change, which a failure here must not break.
        with transaction.atomic():
            already = ModelLogEntry.objects.filter(action=AUDIT_ACTION, data__channel=usage.channel,
                                                   data__month=month).exists()
            if not already:
                log(message, AUDIT_ACTION, data={
                    "channel": usage.channel, "month": month, "units": usage.units,
                    "cost_yen": None if usage.cost_yen is None else str(usage.cost_yen), "budget": usage.budget})
        _audited.add(marker)
    except Exception:  # the audit note is a courtesy: the cap itself already holds
        logger.exception("Could not write the channel cap to the audit log")


def usage_panel_context(*, now: datetime | None = None) -> dict:
    """What courses/admin/_channel_usage.html renders: this month's usage per paid channel and the warnings due."""
    usages = month_usage(now=now)
    return {"channel_usages": usages, "channel_warnings": [usage.message for usage in usages if usage.message],
            "channel_month_start": month_bounds(now)[0]}


def usage_panel_context_for(user, *, now: datetime | None = None) -> dict:
    """The panel's context for a city staff member (the costs are the city's), {} for anyone else (partner staff):
    no query then. The message log renders it with {% include "courses/admin/_channel_usage.html" %} when
    `channel_usages` is in the context."""
    if not is_city_staff(user):
        return {}
    return usage_panel_context(now=now)
