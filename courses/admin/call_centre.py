"""Call-centre views in the Wagtail admin: book a caller by phone, look up a booking, cancel or move it, merge
two records of the same person.

Thin, like every view: parse the input, call one service of courses/services.py, render. A refusal from a
service (RegistrationError) becomes an admin message and changes nothing (the services are atomic).

City staff only. The views need the permissions to add and change registrations and to view participants
(`CALL_CENTRE_PERMISSIONS`); partner staff and analysts lack at least one of them. The look-up covers every
participant in the city, so it must never be opened to a partner role.
"""

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from wagtail.admin import messages
from wagtail.admin.views.generic.base import WagtailAdminTemplateMixin
from wagtail.admin.widgets.button import HeaderButton

from courses import references, services
from courses.admin.forms import LookupForm, MoveRegistrationForm, PhoneBookingForm, SessionSearchForm
from courses.models import Participant, Registration, Session, waitlist_rank
from courses.views import slip_pdf

CALL_CENTRE_PERMISSIONS = ("courses.add_registration", "courses.change_registration", "courses.view_participant")
MERGE_PERMISSIONS = (*CALL_CENTRE_PERMISSIONS, "courses.change_participant")
URL_NAMESPACE = "call_centre"
SESSIONS_PER_PAGE = 30
MOVE_TARGETS_LIMIT = 100


def can_use_call_centre(user) -> bool:
    return user.is_active and user.has_perms(CALL_CENTRE_PERMISSIONS)


def url(name: str, *args) -> str:
    return reverse(f"{URL_NAMESPACE}:{name}", args=args)


def registrations_with_rank():
    """Registrations with what the call-centre pages show, and each one's place on its waiting list
    (`rank`, 1 = next to get a seat) computed in the same query."""
    rank = (Registration.objects
            .filter(session=OuterRef("session"), status=Registration.Status.WAITLISTED,
                    waitlist_position__lte=OuterRef("waitlist_position"))
            .order_by().values("session").annotate(n=Count("pk")).values("n")[:1])
    return (Registration.objects
            .select_related("session", "session__course", "session__venue", "created_by")
            .annotate(rank=Subquery(rank, output_field=IntegerField()))
            .order_by("-session__starts_at", "-pk"))


def _can_act_on(registration: Registration) -> bool:
    """Offer cancel and move only where the services would accept them."""
    return (registration.status in (Registration.Status.CONFIRMED, Registration.Status.WAITLISTED)
            and not registration.session.is_cancelled and registration.session.starts_at > timezone.now())


def _outcome_message(registration: Registration) -> str:
    if registration.status == Registration.Status.WAITLISTED:
        return _("%(name)s is on the waiting list for %(session)s: number %(rank)d.") % {
            "name": registration.participant, "session": registration.session,
            "rank": waitlist_rank(registration)}
    return _("%(name)s has a confirmed seat for %(session)s.") % {
        "name": registration.participant, "session": registration.session}


def _participant_from_query(request) -> Participant | None:
    """The person a booking is for, when staff start it from that person's page (`?participant=<id>`)."""
    pk = request.GET.get("participant", "")
    if not pk.isdigit():
        return None
    return Participant.objects.filter(pk=pk, anonymised_at__isnull=True).first()


def _initial_from(person: Participant) -> dict:
    """Prefill the booking form with what we know; consent is asked again on every call."""
    return {"name": person.name, "kana": person.kana, "phone": person.phone, "email": person.email,
            "age_band": person.age_band, "ward": person.ward_id, "device": person.device,
            "accessibility_needs": person.accessibility_needs, "language": person.language}


class CallCentreView(WagtailAdminTemplateMixin, View):
    """Base of the call-centre views: the permission check before anything is loaded, and the breadcrumbs."""

    permissions_required = CALL_CENTRE_PERMISSIONS
    header_icon = "mobile-alt"

    def dispatch(self, request, *args, **kwargs):
        if not (request.user.is_active and request.user.has_perms(self.permissions_required)):
            raise PermissionDenied  # the admin turns this into a redirect home with a message
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs_items(self):
        items = [*self.breadcrumbs_items, {"url": url("lookup"), "label": _("Call centre")}]
        return items + self.get_extra_breadcrumbs()

    def get_extra_breadcrumbs(self):
        return [{"url": None, "label": self.get_page_title()}]

    def render(self, status=200, **context):
        return self.render_to_response(self.get_context_data(**context), status=status)


# --- Look-up ----------------------------------------------------------------------------------------------


class LookupView(CallCentreView):
    """Find a person by phone number, kana, name or e-mail, with their bookings; or a booking by its reference.

    Eight digits are a booking reference (受付番号) when their check digit is right: the booking opens directly.
    Otherwise they may still be part of a phone number, so the people search runs too; a wrong check digit is
    said plainly ("check the number"), as a misheard digit is the likely cause.
    """

    template_name = "courses/admin/lookup.html"
    page_title = gettext_lazy("Find a booking")

    def get_extra_breadcrumbs(self):
        return []

    def get_header_buttons(self):
        return [HeaderButton(_("Book a caller"), url=url("choose_session"), icon_name="plus")]

    def get(self, request):
        form = LookupForm(request.GET or None)
        query = form.cleaned_data["q"] if form.is_valid() else ""
        people, reference = [], None
        if query and references.looks_like_reference(query):
            digits = references.digits_of(query)
            reference = {"number": references.format_reference(digits),
                         "valid": references.has_valid_check_digit(digits)}
            if reference["valid"]:
                registration = services.find_registration_by_reference(digits)
                if registration is not None:
                    return redirect(url("registration", registration.pk))
        if query:
            people = list(services.find_participants(query).prefetch_related(
                "ward", Prefetch("registrations", queryset=registrations_with_rank())))
        return self.render(form=form, query=query, people=people, reference=reference)


class PersonView(CallCentreView):
    """Everything about one person's bookings, with the actions staff can take for the caller."""

    template_name = "courses/admin/person.html"

    def get(self, request, pk):
        self.participant = get_object_or_404(Participant.objects.select_related("ward"), pk=pk)
        registrations = list(registrations_with_rank().filter(participant=self.participant))
        for registration in registrations:
            registration.can_act = _can_act_on(registration)
        return self.render(participant=self.participant, registrations=registrations,
                           can_merge=request.user.has_perms(MERGE_PERMISSIONS))

    def get_page_title(self):
        return str(self.participant)


class RegistrationView(CallCentreView):
    """One booking, laid out to be read to the caller."""

    template_name = "courses/admin/registration.html"

    def get(self, request, pk):
        self.registration = get_object_or_404(
            Registration.objects.select_related("participant", "participant__ward", "session", "session__course",
                                                "session__venue", "session__venue__ward", "session__organiser",
                                                "created_by"), pk=pk)
        if request.GET.get("format") == "pdf":  # the booking slip, to post to a caller without a printer
            return slip_pdf(request, self.registration)
        return self.render(registration=self.registration, session=self.registration.session,
                           course=self.registration.session.course, participant=self.registration.participant,
                           rank=waitlist_rank(self.registration), can_act=_can_act_on(self.registration))

    def get_page_title(self):
        return _("Booking reference %(number)s") % {"number": self.registration.reference_display}

    def get_extra_breadcrumbs(self):
        person = self.registration.participant
        return [{"url": url("person", person.pk), "label": str(person)},
                {"url": None, "label": self.get_page_title()}]


# --- Booking ----------------------------------------------------------------------------------------------


class ChooseSessionView(CallCentreView):
    """Upcoming sessions to book a caller on, with seats left and the waiting list."""

    template_name = "courses/admin/choose_session.html"
    page_title = gettext_lazy("Book a caller: choose a session")

    def get(self, request):
        form = SessionSearchForm(request.GET or None)
        query = form.cleaned_data["q"] if form.is_valid() else ""
        page = Paginator(services.find_sessions(q=query), SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
        for session in page:
            session.refusal = services.refusal_reason(session)
        querystring = request.GET.copy()
        querystring.pop("page", None)
        return self.render(form=form, page_obj=page, sessions=page.object_list, querystring=querystring.urlencode(),
                           participant=_participant_from_query(request))


class BookView(CallCentreView):
    """The caller's details, then `services.register` with the phone channel."""

    template_name = "courses/admin/book.html"
    page_title = gettext_lazy("Book a caller")

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.session = None

    def get_session(self, session_id):
        return get_object_or_404(Session.objects.with_counts().select_related("course", "venue", "venue__ward",
                                                                              "organiser"), pk=session_id)

    def get_extra_breadcrumbs(self):
        return [{"url": url("choose_session"), "label": _("Choose a session")},
                {"url": None, "label": self.get_page_title()}]

    def get(self, request, session_id):
        self.session = self.get_session(session_id)
        person = _participant_from_query(request)
        form = PhoneBookingForm(initial=_initial_from(person) if person else None)
        return self.render(form=form, session=self.session, refusal=services.refusal_reason(self.session),
                           participant=person)

    def post(self, request, session_id):
        self.session = self.get_session(session_id)
        form = PhoneBookingForm(request.POST)
        if not form.is_valid():
            messages.validation_error(request, _("The booking could not be made. Please check the details."), form)
            return self.render(form=form, session=self.session, refusal=services.refusal_reason(self.session),
                               status=400)
        booker = form.booker_details()
        notify_by, sms_consent = form.notify_choice()
        try:
            result = services.register(
                session=self.session, participant=form.participant_details(form.cleaned_data["language"]),
                channel=Registration.Channel.PHONE,
                booked_by=Registration.BookedBy.FAMILY if booker else Registration.BookedBy.STAFF,
                booker=booker, actor=request.user, notify_by=notify_by, sms_consent=sms_consent)
        except services.RegistrationError as exc:
            messages.error(request, exc.message)
            return self.render(form=form, session=self.session, refusal=services.refusal_reason(self.session),
                               status=400)
        registration = result.registration
        if not result.created:
            messages.warning(request, _(
                "%(name)s was already registered for this session: nothing was changed. The confirmation has "
                "been sent again.") % {"name": registration.participant})
        elif result.waitlisted:
            messages.warning(request, _outcome_message(registration))
        else:
            messages.success(request, _outcome_message(registration))
        return redirect(url("registration", registration.pk))


# --- Cancel and move --------------------------------------------------------------------------------------


class RegistrationActionView(CallCentreView):
    """Base of cancel and move: loads the registration; refusals go back to the person's page."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.registration = None

    def load(self, pk):
        self.registration = get_object_or_404(
            Registration.objects.select_related("participant", "session", "session__course", "session__venue"),
            pk=pk)
        return self.registration

    def person_url(self):
        return url("person", self.registration.participant_id)

    def refuse(self, exc: services.RegistrationError):
        messages.error(self.request, exc.message)
        return redirect(self.person_url())

    def get_extra_breadcrumbs(self):
        person = self.registration.participant
        return [{"url": url("person", person.pk), "label": str(person)},
                {"url": None, "label": self.get_page_title()}]


class CancelView(RegistrationActionView):
    template_name = "courses/admin/cancel.html"
    page_title = gettext_lazy("Cancel a booking")

    def get(self, request, pk):
        registration = self.load(pk)
        return self.render(registration=registration, session=registration.session,
                           rank=waitlist_rank(registration), can_act=_can_act_on(registration))

    def post(self, request, pk):
        registration = self.load(pk)
        try:
            result = services.cancel_registration(registration=registration, actor=request.user)
        except services.RegistrationError as exc:
            return self.refuse(exc)
        message = _("The booking of %(name)s for %(session)s was cancelled.") % {
            "name": registration.participant, "session": registration.session}
        if result.promoted:
            message += " " + ngettext(
                "%(count)d person on the waiting list now has a seat.",
                "%(count)d people on the waiting list now have a seat.", len(result.promoted)) % {
                "count": len(result.promoted)}
        messages.success(request, message)
        return redirect(self.person_url())


class MoveView(RegistrationActionView):
    """Move a booking to another session: the same course's sessions first, then any other."""

    template_name = "courses/admin/move.html"
    page_title = gettext_lazy("Move a booking")

    def targets(self):
        return services.find_sessions().exclude(pk=self.registration.session_id)

    def render_form(self, form, status=200):
        same_course = list(self.targets().filter(course_id=self.registration.session.course_id))
        query = self.request.GET.get("q", "").strip()[:100]
        others = list(services.find_sessions(q=query).exclude(course_id=self.registration.session.course_id)
                      [:MOVE_TARGETS_LIMIT])
        for session in [*same_course, *others]:
            session.refusal = services.refusal_reason(session)
        return self.render(form=form, registration=self.registration, session=self.registration.session,
                           same_course=same_course, others=others, query=query,
                           can_act=_can_act_on(self.registration), status=status)

    def get(self, request, pk):
        self.load(pk)
        return self.render_form(MoveRegistrationForm(sessions=self.targets()))

    def post(self, request, pk):
        registration = self.load(pk)
        form = MoveRegistrationForm(request.POST, sessions=self.targets())
        if not form.is_valid():
            messages.validation_error(request, _("The booking could not be moved."), form)
            return self.render_form(form, status=400)
        try:
            result = services.move_registration(registration=registration, to_session=form.cleaned_data["to_session"],
                                                actor=request.user)
        except services.RegistrationError as exc:
            messages.error(request, exc.message)
            return self.render_form(form, status=400)
        moved = Registration.objects.select_related("participant", "session", "session__course").get(
            pk=result.registration.pk)
        message = _("The booking was moved.") + " " + _outcome_message(moved)
        if result.promoted:
            message += " " + ngettext(
                "%(count)d person on the waiting list of the previous session now has a seat.",
                "%(count)d people on the waiting list of the previous session now have a seat.",
                len(result.promoted)) % {"count": len(result.promoted)}
        (messages.warning if result.waitlisted else messages.success)(request, message)
        return redirect(url("registration", moved.pk))


# --- Merge ------------------------------------------------------------------------------------------------


class MergeChooseView(CallCentreView):
    """Find the other record of the same person."""

    permissions_required = MERGE_PERMISSIONS
    template_name = "courses/admin/merge_choose.html"
    page_title = gettext_lazy("Merge with another record")

    def get(self, request, pk):
        self.participant = get_object_or_404(Participant.objects.filter(anonymised_at__isnull=True), pk=pk)
        initial = self.participant.phone or self.participant.kana or self.participant.name
        form = LookupForm(request.GET or {"q": initial})
        query = form.cleaned_data["q"] if form.is_valid() else ""
        candidates = []
        if query:
            candidates = [person for person in services.find_participants(query).prefetch_related(
                "ward", Prefetch("registrations", queryset=registrations_with_rank()))
                if person.pk != self.participant.pk]
        return self.render(form=form, query=query, participant=self.participant, people=candidates)

    def get_extra_breadcrumbs(self):
        return [{"url": url("person", self.participant.pk), "label": str(self.participant)},
                {"url": None, "label": self.get_page_title()}]


class MergeView(CallCentreView):
    """Both records and their registrations side by side; on confirmation, `services.merge_participants`."""

    permissions_required = MERGE_PERMISSIONS
    template_name = "courses/admin/merge.html"
    page_title = gettext_lazy("Merge two records")

    def load(self, pk, other_pk):
        people = Participant.objects.filter(anonymised_at__isnull=True).select_related("ward")
        self.keep = get_object_or_404(people, pk=pk)
        self.duplicate = get_object_or_404(people.exclude(pk=pk), pk=other_pk)

    def get(self, request, pk, other_pk):
        self.load(pk, other_pk)
        registrations = list(registrations_with_rank().filter(participant__in=[self.keep, self.duplicate]))
        columns = [
            {"participant": person, "registrations": [r for r in registrations if r.participant_id == person.pk]}
            for person in (self.keep, self.duplicate)
        ]
        return self.render(keep=self.keep, duplicate=self.duplicate, columns=columns,
                           swap_url=url("merge", self.duplicate.pk, self.keep.pk))

    def post(self, request, pk, other_pk):
        self.load(pk, other_pk)
        try:
            keep = services.merge_participants(keep=self.keep, duplicate=self.duplicate, actor=request.user)
        except services.RegistrationError as exc:
            messages.error(request, exc.message)
            return redirect(url("person", self.keep.pk))
        count = keep.registrations.count()
        messages.success(request, ngettext(
            "The two records were merged into %(name)s, with %(count)d registration.",
            "The two records were merged into %(name)s, with %(count)d registrations.", count) % {
            "name": keep, "count": count})
        return redirect(url("person", keep.pk))

    def get_extra_breadcrumbs(self):
        return [{"url": url("person", self.keep.pk), "label": str(self.keep)},
                {"url": None, "label": self.get_page_title()}]
