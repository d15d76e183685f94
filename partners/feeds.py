"""Private calendar feeds for partner staff: one per membership, under a signed, unguessable, revocable token.

The token is the feed's id and its random key, signed with SECRET_KEY under a salt of its own, so a registration
link or any other signed value never opens a feed. Revoking clears the key (the old address answers 404);
regenerating gives a new key (the old address answers 404, the new one works).
"""

from django.core import signing
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from cms.audit import acting_user, log
from partners.models import PartnerMembership, StaffCalendarFeed, new_feed_key

SALT = "dekiru.partners.staff_feed"


def feed_token(feed: StaffCalendarFeed) -> str:
    if not feed.is_active:
        raise ValueError("A revoked feed has no address.")
    return signing.Signer(salt=SALT).sign_object([feed.pk, feed.key])


def feed_from_token(token: str) -> StaffCalendarFeed:
    """The active feed of this token, or 404: tampered, revoked, regenerated, membership gone, user inactive or
    partner inactive."""
    try:
        pk, key = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise Http404("Invalid feed address") from exc
    if not isinstance(pk, int) or not isinstance(key, str) or not key:
        raise Http404("Invalid feed address")
    feed = (StaffCalendarFeed.objects.select_related("membership__partner", "membership__user")
            .filter(pk=pk, membership__user__is_active=True, membership__partner__is_active=True).first())
    if feed is None or not feed.key or not constant_time_compare(key, feed.key):
        raise Http404("Invalid feed address")
    return feed


def get_or_create_feed(*, membership: PartnerMembership, actor=None) -> StaffCalendarFeed:
    feed, created = StaffCalendarFeed.objects.get_or_create(membership=membership)
    if created:
        log(feed, "partners.feed.created", user=acting_user(actor))
    return feed


def regenerate_feed(*, feed: StaffCalendarFeed, actor=None) -> StaffCalendarFeed:
    """A new address; the old one stops working at once. Also turns a revoked feed back on."""
    with transaction.atomic():
        feed.key = new_feed_key()
        feed.revoked_at = None
        feed.regenerated_at = timezone.now()
        feed.save(update_fields=["key", "revoked_at", "regenerated_at"])
        log(feed, "partners.feed.regenerated", user=acting_user(actor))
    return feed


def revoke_feed(*, feed: StaffCalendarFeed, actor=None) -> StaffCalendarFeed:
    with transaction.atomic():
        feed.key = ""
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["key", "revoked_at"])
        log(feed, "partners.feed.revoked", user=acting_user(actor))
    return feed
