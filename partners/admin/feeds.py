"""Admin: a staff member's own private calendar feeds (one per partner they belong to): see the address, change it,
turn it off. Nobody sees or changes another person's feed address here."""

from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin

from partners.feeds import feed_token, get_or_create_feed, regenerate_feed, revoke_feed
from partners.models import PartnerMembership


def feed_urls(request, feed) -> dict | None:
    if not feed.is_active:
        return None
    https = request.build_absolute_uri(reverse("courses:feed_staff", args=[feed_token(feed)]))
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


class MyCalendarFeedsView(WagtailAdminTemplateMixin, View):
    """GET: the signed-in user's memberships and their feeds. POST action=create|regenerate|revoke, membership=id."""

    template_name = "partners/admin/my_calendar_feeds.html"
    page_title = gettext_lazy("My calendar feeds")
    header_icon = "date"

    def memberships(self):
        return (PartnerMembership.objects.filter(user=self.request.user, partner__is_active=True)
                .select_related("partner", "calendar_feed").order_by("partner__name"))

    def get(self, request):
        rows = []
        for membership in self.memberships():
            feed = getattr(membership, "calendar_feed", None)
            rows.append({"membership": membership, "feed": feed, "urls": feed_urls(request, feed) if feed else None})
        return self.render_to_response(self.get_context_data(rows=rows))

    def post(self, request):
        membership = get_object_or_404(self.memberships(), pk=request.POST.get("membership") or 0)
        action = request.POST.get("action")
        if action not in ("create", "regenerate", "revoke"):
            return HttpResponseBadRequest()
        feed = get_or_create_feed(membership=membership, actor=request.user)
        if action == "create":
            if not feed.is_active:
                regenerate_feed(feed=feed, actor=request.user)
            messages.success(request, _("Your calendar feed is ready. Add its address to your calendar app."))
        elif action == "regenerate":
            regenerate_feed(feed=feed, actor=request.user)
            messages.success(request, _("Your calendar feed has a new address. The old address no longer works."))
        else:
            revoke_feed(feed=feed, actor=request.user)
            messages.success(request, _("Your calendar feed is turned off. Its address no longer works."))
        return redirect("partners_my_calendar_feeds")
