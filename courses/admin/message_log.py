"""Admin: the message log (every e-mail, SMS and call-list entry: who, what, status, attempts, last error, sent
time, whether it may have gone twice (courses.outbox's duplicate windows, with a filter), what the provider reported
afterwards (delivered, bounced, … from courses.delivery_events, with a filter, and whether the address is now
marked undeliverable), with a retry for failed e-mails and SMS) and the call list (residents without e-mail, to be
phoned with the text to read).

Who sees what of the recipients is courses.privacy's table: city staff see every message (the full address if
they look after people's records, masked for analysts); partner staff see only their own sessions' messages, with
the recipient masked in the log. An error reported by the mail service, and a delivery report, are masked the same
way. The call list shows
the name and phone number (calling is what it is for) to the roles that make the calls, and is closed to the
others (analysts). Never the saved text of an e-mail: it holds the personal cancel link. Thin views: the actions
are courses.outbox.retry and courses.outbox.mark_called, each logged.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from wagtail.admin import messages
from wagtail.admin.menu import Menu, MenuItem, SubmenuMenuItem
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.viewsets.base import ViewSet

from cms.audit import log
from courses import channel_budget, outbox, privacy
from courses.models import OutgoingMessage, UndeliverableContact
from partners import permissions

URL_NAMESPACE = "message_log"
VIEW = "courses.view_outgoingmessage"
CHANGE = "courses.change_outgoingmessage"
PER_PAGE = 50


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def visible_messages(user):
    return permissions.scope(
        OutgoingMessage.objects.select_related("session", "session__course", "called_by"), user,
        field="session__organiser")


class MessageFilterForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False,
                               choices=[("", gettext_lazy("All")), *OutgoingMessage.Status.choices])
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False,
                             choices=[("", gettext_lazy("All")), *OutgoingMessage.Kind.choices])
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False,
                                choices=[("", gettext_lazy("All")), *OutgoingMessage.Channel.choices])
    delivery = forms.ChoiceField(label=gettext_lazy("Delivery"), required=False,
                                 choices=[("", gettext_lazy("All")), ("none", gettext_lazy("Not reported")),
                                          *OutgoingMessage.DeliveryStatus.choices])
    session = forms.IntegerField(label=gettext_lazy("Session number"), required=False, min_value=1)
    possibly_duplicate = forms.BooleanField(
        label=gettext_lazy("May have gone twice"), required=False,
        help_text=gettext_lazy("Only messages with an attempt that may have reached the resident without being "
                               "recorded (no answer in time, a worker lost while sending)."))

    def filter(self, queryset):
        if not self.is_valid():
            return queryset
        data = self.cleaned_data
        for name in ("status", "kind", "channel"):
            if data[name]:
                queryset = queryset.filter(**{name: data[name]})
        if data["delivery"]:
            queryset = queryset.filter(delivery_status="" if data["delivery"] == "none" else data["delivery"])
        if data["session"]:
            queryset = queryset.filter(session_id=data["session"])
        if data["possibly_duplicate"]:
            queryset = queryset.possibly_duplicate()
        return queryset


class PermissionMixin:
    permission = VIEW
    call_list = False  # a page of the call list: for the roles that make the calls (courses.privacy)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        privacy.rights(request.user)  # what of recipients the user sees; its query also answers the partner scope's
        if self.call_list and not privacy.can_use_call_list(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


def can_use_call_list(user) -> bool:
    return user.has_perm(VIEW) and privacy.can_use_call_list(user)


class MessageLogView(PermissionMixin, WagtailAdminTemplateMixin, View):
    template_name = "courses/admin/messages/log.html"
    page_title = gettext_lazy("Message log")
    header_icon = "mail"

    def get(self, request):
        form = MessageFilterForm(request.GET or None)
        queryset = form.filter(visible_messages(request.user))
        page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("p"))
        # Full addresses for city staff who look after people's records; masked for partner staff and analysts.
        show_full = privacy.can_see_message_addresses(request.user)
        undeliverable = undeliverable_addresses(page)
        for message in page:
            message.marked_undeliverable = (message.channel, message.recipient_address) in undeliverable
            message.shown_delivery_detail = (message.delivery_detail if show_full
                                             else privacy.masked_text(message.delivery_detail))
            message.shown_recipient = message.recipient_address if show_full else message.masked_recipient
            message.shown_error = message.last_error if show_full else privacy.masked_text(message.last_error)
            message.shown_uncertain_note = (message.uncertain_note if show_full
                                            else privacy.masked_text(message.uncertain_note))
        query = request.GET.copy()
        query.pop("p", None)
        return self.render_to_response(self.get_context_data(
            form=form, page=page, query=query.urlencode(), can_retry=request.user.has_perm(CHANGE),
            failed=OutgoingMessage.Status.FAILED, **channel_budget.usage_panel_context_for(request.user)))


def undeliverable_addresses(messages) -> set[tuple[str, str]]:
    """(channel, address) of the messages' recipients marked undeliverable (courses.delivery_events): one query."""
    Channel, Kind = OutgoingMessage.Channel, UndeliverableContact.Kind
    emails = {m.to_email for m in messages if m.channel == Channel.EMAIL and m.to_email}
    phones = {m.to_phone for m in messages if m.channel != Channel.EMAIL and m.to_phone}
    if not emails and not phones:
        return set()
    rows = UndeliverableContact.objects.filter(
        Q(kind=Kind.EMAIL, address__in=emails) | Q(kind=Kind.PHONE, address__in=phones)).values_list("kind", "address")
    found = set()
    for kind, address in rows:
        if kind == Kind.EMAIL:
            found.add((Channel.EMAIL, address))
        else:
            found.update({(Channel.SMS, address), (Channel.LINE, address), (Channel.PHONE, address)})
    return found


class RetryView(PermissionMixin, View):
    permission = CHANGE

    def post(self, request, pk):
        message = get_object_or_404(visible_messages(request.user), pk=pk)
        if outbox.retry(message):
            log(message, "courses.message.retried", user=request.user)
            messages.success(request, _("The message is back in the queue and will be sent shortly."))
        else:
            messages.error(request, _("Only a failed e-mail can be sent again."))
        return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/admin/")
                        else url("log"))


class CallListView(PermissionMixin, WagtailAdminTemplateMixin, View):
    template_name = "courses/admin/messages/call_list.html"
    call_list = True
    page_title = gettext_lazy("Call list")
    header_icon = "mobile-alt"

    def get(self, request):
        queryset = visible_messages(request.user).call_list()
        page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("p"))
        return self.render_to_response(self.get_context_data(page=page))


class CallView(PermissionMixin, WagtailAdminTemplateMixin, View):
    """One call: whom to phone, the number, and the text to read out; then "done"."""

    template_name = "courses/admin/messages/call.html"
    header_icon = "mobile-alt"
    call_list = True

    def get_page_title(self):
        return _("Call %(name)s") % {"name": self.message.to_name or "-"}

    def get_message(self, pk):
        return get_object_or_404(visible_messages(self.request.user).filter(channel=OutgoingMessage.Channel.PHONE),
                                 pk=pk)

    def get(self, request, pk):
        self.message = self.get_message(pk)
        return self.render_to_response(self.get_context_data(
            message=self.message, text=outbox.text_to_read(self.message), can_mark=request.user.has_perm(CHANGE)))

    def post(self, request, pk):
        if not request.user.has_perm(CHANGE):
            raise PermissionDenied
        self.message = self.get_message(pk)
        if outbox.mark_called(self.message, request.user):
            log(self.message, "courses.message.called", user=request.user)
            messages.success(request, _("Marked as called."))
        else:
            messages.warning(request, _("This call was already done or is no longer needed."))
        return redirect(url("call_list"))


class ViewMenuItem(MenuItem):
    def is_shown(self, request):
        return request.user.has_perm(VIEW)


class CallListMenuItem(MenuItem):
    def is_shown(self, request):
        return can_use_call_list(request.user)


class MessagesViewSet(ViewSet):
    """/admin/messages/: the log of outgoing messages and the call list."""

    name = "messages"
    url_namespace = URL_NAMESPACE
    icon = "mail"
    menu_label = gettext_lazy("Messages")
    menu_order = 155
    add_to_admin_menu = True

    def get_urlpatterns(self):
        return [
            path("", MessageLogView.as_view(), name="log"),
            path("<int:pk>/retry/", RetryView.as_view(), name="retry"),
            path("calls/", CallListView.as_view(), name="call_list"),
            path("calls/<int:pk>/", CallView.as_view(), name="call"),
        ]

    def get_menu_item(self, order=None):
        items = [
            ViewMenuItem(_("Message log"), url("log"), name="messages-log", icon_name="mail", order=1),
            CallListMenuItem(_("Call list"), url("call_list"), name="messages-calls", icon_name="mobile-alt", order=2),
        ]
        return SubmenuMenuItem(self.menu_label, Menu(items=items), name="messages", icon_name=self.menu_icon,
                               order=self.get_menu_item_order(order))


messages_viewset = MessagesViewSet()
