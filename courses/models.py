import secrets

from django.conf import settings
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from modelcluster.fields import ParentalManyToManyField
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.contrib.routable_page.models import RoutablePageMixin, path
from wagtail.fields import StreamField
from wagtail.models import Page
from wagtail.search import index

from cms.blocks import BodyBlock
from cms.i18n import localized
from cms.panels import EasyJapanesePanel
from courses.references import format_reference, new_reference
from courses.tokens import registration_token


class Topic(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    slug = models.SlugField(_("slug"), unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("topic")
        verbose_name_plural = _("topics")

    def __str__(self):
        return localized(self, "name")


class CourseIndexPage(Page):
    """The root of all courses. Its children are one CourseGroupPage per course owner."""

    intro = models.TextField(_("introduction (Japanese)"), blank=True)
    intro_en = models.TextField(_("introduction (English)"), blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro"), FieldPanel("intro_en")]
    parent_page_types = ["cms.HomePage"]
    subpage_types = ["courses.CourseGroupPage"]
    max_count = 1

    class Meta:
        verbose_name = _("course index page")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["courses"] = (CoursePage.objects.live().public().descendant_of(self)
                              .prefetch_related("topics").order_by("title"))
        return context


class CourseGroupPage(Page):
    """The courses of one owner: the city (no partner) or one partner.

    Created with the partner (partners.services.create_partner) so that page permissions can be granted
    per partner subtree.
    """

    partner = models.OneToOneField("partners.Partner", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="course_group", verbose_name=_("partner"),
                                   help_text=_("Empty for the city's own courses."))

    content_panels = [*Page.content_panels, FieldPanel("partner")]
    parent_page_types = ["courses.CourseIndexPage"]
    subpage_types = ["courses.CoursePage"]

    class Meta:
        verbose_name = _("course group page")
        constraints = [
            # One group for the city's own courses.
            models.UniqueConstraint(fields=["partner"], condition=Q(partner__isnull=False),
                                    name="one_group_per_partner"),
        ]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["courses"] = CoursePage.objects.live().public().child_of(self).order_by("title")
        return context


class CoursePage(RoutablePageMixin, Page):
    class Level(models.TextChoices):
        BEGINNER = "beginner", _("Beginner")
        INTERMEDIATE = "intermediate", _("Intermediate")
        ADVANCED = "advanced", _("Advanced")

    class Device(models.TextChoices):
        ANDROID = "android", _("Android")
        IPHONE = "iphone", _("iPhone")
        ANY = "any", _("Any smartphone")

    title_kana = models.CharField(_("title (kana)"), max_length=255)
    title_en = models.CharField(_("title (English)"), max_length=255, blank=True)
    summary = models.TextField(_("summary (Japanese)"))
    summary_en = models.TextField(_("summary (English)"), blank=True)
    body = StreamField(BodyBlock(), verbose_name=_("description (Japanese)"), blank=True)
    body_en = StreamField(BodyBlock(), verbose_name=_("description (English)"), blank=True)
    topics = ParentalManyToManyField(Topic, blank=True, related_name="courses", verbose_name=_("topics"))
    level = models.CharField(_("level"), max_length=20, choices=Level.choices, default=Level.BEGINNER)
    device = models.CharField(_("device"), max_length=20, choices=Device.choices, default=Device.ANY)
    target_audience = models.CharField(_("who it is for (Japanese)"), max_length=255, blank=True)
    target_audience_en = models.CharField(_("who it is for (English)"), max_length=255, blank=True)
    what_to_bring = models.CharField(_("what to bring (Japanese)"), max_length=255, blank=True)
    what_to_bring_en = models.CharField(_("what to bring (English)"), max_length=255, blank=True)
    # やさしい日本語 versions (optional): shown by a switch on the course page, and offered to readers of /en/.
    summary_easy = models.TextField(_("summary (plain Japanese)"), blank=True,
                                    help_text=_("やさしい日本語: short sentences, readings after harder kanji."))
    what_to_bring_easy = models.CharField(_("what to bring (plain Japanese)"), max_length=255, blank=True)
    fee = models.PositiveIntegerField(_("fee (yen)"), default=0, help_text=_("0 for a free course."))
    skills = ParentalManyToManyField("outreach.SkillItem", blank=True, related_name="courses",
                                     verbose_name=_("can-do items taught"))

    content_panels = [
        *Page.content_panels,
        FieldPanel("title_kana"), FieldPanel("title_en"),
        MultiFieldPanel([FieldPanel("summary"), FieldPanel("summary_en"), EasyJapanesePanel("summary_easy")],
                        heading=_("Summary")),
        FieldPanel("body"), FieldPanel("body_en"),
        MultiFieldPanel([FieldRowPanel([FieldPanel("level"), FieldPanel("device")]), FieldPanel("topics"),
                         FieldPanel("target_audience"), FieldPanel("target_audience_en"),
                         FieldPanel("what_to_bring"), FieldPanel("what_to_bring_en"),
                         EasyJapanesePanel("what_to_bring_easy"), FieldPanel("fee")],
                        heading=_("Details")),
        FieldPanel("skills"),
    ]
    search_fields = [*Page.search_fields, index.SearchField("title_kana"), index.SearchField("title_en"),
                     index.SearchField("summary"), index.SearchField("summary_en")]
    parent_page_types = ["courses.CourseGroupPage"]
    subpage_types = []

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")

    @cached_property
    def owner_partner(self):
        """The partner that owns this course, or None for a city course. Follows from the group page."""
        group = self.get_parent().specific
        return getattr(group, "partner", None)

    def display_title(self):
        return localized(self, "title")

    def get_upcoming_sessions(self):
        return (Session.objects.with_counts().filter(course=self, ends_at__gt=timezone.now())
                .select_related("venue", "venue__ward", "organiser").order_by("starts_at"))

    def get_context(self, request, *args, **kwargs):
        # Wagtail serves the page from its model; courses.listing imports these models.
        from courses.listing import course_sessions_page

        context = super().get_context(request, *args, **kwargs)
        # One page of upcoming dates (DEKIRU_COURSE_PAGE_SESSIONS), in three queries however many there are.
        sessions_page = course_sessions_page(self, request.GET.get("page"))
        context["sessions"] = sessions_page.object_list
        context["sessions_page"] = sessions_page
        query = request.GET.copy()
        query.pop("page", None)  # keeps ?easy=1 across pages
        context["sessions_querystring"] = query.urlencode()
        # やさしい日本語: ?easy=1 on the Japanese page shows the plain-Japanese versions, where staff wrote them.
        context["has_easy"] = bool(self.summary_easy or self.what_to_bring_easy)
        context["easy"] = context["has_easy"] and request.GET.get("easy") == "1"
        if context["has_easy"]:  # the same page without the /en/ prefix
            language = translation.get_language_from_path(request.path)
            context["japanese_url"] = request.path[len(language) + 1:] if language else request.path
        return context

    @path("sessions/<int:session_id>/register/", name="register")
    def register_view(self, request, session_id):
        """The registration form's old address, under the course page: it moved to /sessions/<id>/register/.
        Redirected permanently with 308, so that a POST (a form opened before the move) keeps its data."""
        if not Session.objects.filter(pk=session_id, course=self).exists():
            raise Http404
        return redirect("courses:register", session_id, permanent=True, preserve_request=True)


def _registration_count(statuses):
    """Number of the session's registrations in `statuses`, as a correlated subquery: computed only for the
    rows a page shows, and dropped from COUNT(*) queries, unlike a JOIN + GROUP BY over every session."""
    counted = (Registration.objects.filter(session=OuterRef("pk"), status__in=statuses)
               .order_by().values("session").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)


class SessionQuerySet(models.QuerySet):
    def with_counts(self):
        return self.annotate(confirmed_count=_registration_count(Registration.SEATED),
                             waitlist_count=_registration_count([Registration.Status.WAITLISTED]))

    def upcoming(self):
        return self.filter(starts_at__gt=timezone.now())


class SessionSeries(models.Model):
    """A weekly run of a course: the rule a partner entered, and the sessions it created (one per date, each with
    its own capacity and roster). Feeds and pages show the sessions, one event each, never the rule."""

    course = models.ForeignKey(CoursePage, on_delete=models.PROTECT, related_name="series", verbose_name=_("course"))
    organiser = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="series",
                                  verbose_name=_("organiser"))
    venue = models.ForeignKey("partners.Venue", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="series", verbose_name=_("venue"))
    online_url = models.URLField(_("online link"), blank=True)
    weekdays = models.JSONField(_("weekdays"), help_text=_("0 = Monday … 6 = Sunday"))
    start_time = models.TimeField(_("start time"))
    duration_minutes = models.PositiveIntegerField(_("length (minutes)"))
    starts_on = models.DateField(_("first date"))
    weeks = models.PositiveIntegerField(_("number of weeks"), null=True, blank=True)
    ends_on = models.DateField(_("last date"), null=True, blank=True)
    excluded_dates = models.JSONField(_("excluded dates"), default=list, blank=True)
    skip_public_holidays = models.BooleanField(_("skip public holidays"), default=True)
    capacity = models.PositiveIntegerField(_("capacity"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("session series")
        verbose_name_plural = _("session series")
        constraints = [
            models.CheckConstraint(condition=Q(weeks__isnull=False) | Q(ends_on__isnull=False),
                                   name="series_has_weeks_or_end"),
            models.CheckConstraint(condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                                   name="series_ends_after_start"),
            models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="series_duration_positive"),
        ]

    def __str__(self):
        return f"{self.course.title} ({self.starts_on:%Y-%m-%d}〜)"


class Session(models.Model):
    """One dated occurrence of a course at a venue (or online), with its own capacity and roster."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", pgettext_lazy("session status", "Scheduled")
        CANCELLED = "cancelled", pgettext_lazy("session status", "Cancelled")

    course = models.ForeignKey(CoursePage, on_delete=models.PROTECT, related_name="sessions",
                               verbose_name=_("course"))
    organiser = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="sessions",
                                  verbose_name=_("organiser"))
    venue = models.ForeignKey("partners.Venue", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="sessions", verbose_name=_("venue"))
    online_url = models.URLField(_("online link"), blank=True)
    series = models.ForeignKey(SessionSeries, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="sessions", verbose_name=_("series"))
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("capacity"))
    registration_opens_at = models.DateTimeField(_("registration opens"), null=True, blank=True,
                                                 help_text=_("Empty: open as soon as published."))
    registration_closes_at = models.DateTimeField(_("registration closes"), null=True, blank=True,
                                                  help_text=_("Empty: open until the session starts."))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    cancellation_reason = models.TextField(_("reason for cancellation"), blank=True)
    sequence = models.PositiveIntegerField(
        _("revision"), default=0, editable=False,
        help_text=_("Raised with every change of time, place or status, so calendar clients update the event."))
    notes = models.TextField(_("notes for participants (Japanese)"), blank=True)
    notes_en = models.TextField(_("notes for participants (English)"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"),
            models.CheckConstraint(condition=Q(capacity__gte=0), name="session_capacity_not_negative"),
            models.CheckConstraint(condition=Q(venue__isnull=False) | ~Q(online_url=""),
                                   name="session_has_venue_or_link"),
            models.CheckConstraint(
                condition=Q(registration_opens_at__isnull=True) | Q(registration_closes_at__isnull=True)
                | Q(registration_closes_at__gt=models.F("registration_opens_at")),
                name="session_registration_window_ordered"),
            models.CheckConstraint(condition=~Q(status="cancelled") | ~Q(cancellation_reason=""),
                                   name="session_cancellation_has_reason"),
        ]

    def __str__(self):
        local = timezone.localtime(self.starts_at)
        return f"{self.course.title} {local:%Y-%m-%d %H:%M}"

    @property
    def is_cancelled(self) -> bool:
        return self.status == self.Status.CANCELLED

    @property
    def registration_closes(self):
        return self.registration_closes_at or self.starts_at

    @property
    def seats_left(self) -> int:
        confirmed = getattr(self, "confirmed_count", None)
        if confirmed is None:
            confirmed = self.registrations.filter(status__in=Registration.SEATED).count()
        return max(self.capacity - confirmed, 0)

    def localized_notes(self):
        return localized(self, "notes")


class Participant(models.Model):
    """A resident taking part. Stores an age band, never a birth date (PRODUCT.md, personal data)."""

    class AgeBand(models.TextChoices):
        UNDER_20 = "u20", _("Under 20")
        AGE_20_29 = "20-29", _("20–29")
        AGE_30_39 = "30-39", _("30–39")
        AGE_40_49 = "40-49", _("40–49")
        AGE_50_59 = "50-59", _("50–59")
        AGE_60_64 = "60-64", _("60–64")
        AGE_65_69 = "65-69", _("65–69")
        AGE_70_74 = "70-74", _("70–74")
        AGE_75_79 = "75-79", _("75–79")
        AGE_80_84 = "80-84", _("80–84")
        AGE_85_PLUS = "85+", _("85 and over")
        NOT_GIVEN = "", _("Not given")

    class Residence(models.TextChoices):
        """Where the person lives, as they answered: a ward of the city (`ward` says which), outside the city, or
        an explicit "prefer not to say". Blank: not asked (recorded before the question had these answers)."""

        CITY = "city", _("A ward of the city")
        OUTSIDE = "outside", _("Outside the city")
        DECLINED = "declined", _("Prefer not to say")
        NOT_RECORDED = "", _("Not recorded")

    class Device(models.TextChoices):
        ANDROID = "android", _("Android smartphone")
        IPHONE = "iphone", _("iPhone")
        OTHER_PHONE = "other_phone", _("Other mobile phone")
        NONE = "none", _("No smartphone yet")
        UNKNOWN = "", _("Not given")

    name = models.CharField(_("name"), max_length=100, blank=True)
    kana = models.CharField(_("name (kana)"), max_length=100, blank=True, db_index=True)
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=15, blank=True, db_index=True,
                             help_text=_("Digits only, e.g. 0441234567."))
    age_band = models.CharField(_("age band"), max_length=6, choices=AgeBand.choices, blank=True)
    ward = models.ForeignKey("partners.Ward", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="participants", verbose_name=_("ward of residence"))
    residence = models.CharField(_("residence"), max_length=10, choices=Residence.choices, blank=True,
                                 help_text=_("A ward of the city, outside the city, or prefer not to say."))
    device = models.CharField(_("device owned"), max_length=20, choices=Device.choices, blank=True)
    accessibility_needs = models.TextField(_("accessibility needs"), blank=True)
    language = models.CharField(_("preferred language"), max_length=5, choices=settings.LANGUAGES, default="ja")
    consent_policy_version = models.CharField(_("privacy policy version consented to"), max_length=20, blank=True)
    consented_at = models.DateTimeField(_("consented at"), null=True, blank=True)
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True)
    # The resident's LINE user id once they linked LINE to a booking (courses.line_linking): it serves their later
    # bookings too. Personal data: never shown to partner staff, erased by the retention purge, in the export.
    line_user_id = models.CharField(_("LINE user id"), max_length=64, blank=True, db_index=True, editable=False)
    line_linked_at = models.DateTimeField(_("LINE linked at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.CheckConstraint(condition=~Q(consent_policy_version="") | Q(consented_at__isnull=True),
                                   name="participant_consent_has_version"),
        ]

    def __str__(self):
        return self.name or str(_("(no name)"))

    def audit_title(self) -> str:
        """The audit log's label: an id, never the person's name (cms.audit)."""
        return f"Participant {self.pk}"


def new_token_key() -> str:
    return secrets.token_urlsafe(16)


class Registration(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        WAITLISTED = "waitlisted", _("Waiting list")
        CANCELLED = "cancelled", _("Cancelled")
        ATTENDED = "attended", _("Attended")
        NO_SHOW = "no_show", _("No-show")

    class Channel(models.TextChoices):
        WEB = "web", _("Web")
        PHONE = "phone", _("Phone")
        WALK_IN = "walk_in", _("Walk-in")

    class BookedBy(models.TextChoices):
        SELF = "self", _("Themself")
        FAMILY = "family", _("Family member or carer")
        STAFF = "staff", _("Staff")

    class NotifyBy(models.TextChoices):
        """お知らせの受け取り方: the resident's answer on the form (or to staff on the phone). A choice is offered only
        when the contact details allow it (courses.forms); LINE once the city's LINE account is set up (cms.line),
        and it takes effect when the resident links their LINE (courses.line_linking)."""

        EMAIL = "email", pgettext_lazy("how to be notified", "E-mail")
        LINE = "line", _("LINE")
        SMS = "sms", _("SMS to this mobile phone")
        CALL = "call", _("A phone call from staff")

    # Statuses that hold a seat, and statuses that count as an active registration.
    SEATED = (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW)
    ACTIVE = (*SEATED, Status.WAITLISTED)

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="registrations",
                                verbose_name=_("session"))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="registrations",
                                    verbose_name=_("participant"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, default=Channel.WEB)
    booked_by = models.CharField(_("booked by"), max_length=20, choices=BookedBy.choices, default=BookedBy.SELF)
    booker_name = models.CharField(_("booker's name"), max_length=100, blank=True)
    booker_relationship = models.CharField(_("booker's relationship"), max_length=50, blank=True)
    booker_email = models.EmailField(_("booker's e-mail"), blank=True)
    booker_phone = models.CharField(_("booker's phone"), max_length=15, blank=True)
    waitlist_position = models.PositiveIntegerField(_("waiting-list position"), null=True, blank=True)
    # Null on bookings made before the question was asked: "not recorded", never a guess (the figures count it so).
    notify_by = models.CharField(_("how to be notified"), max_length=10, choices=NotifyBy.choices, null=True,
                                 blank=True)
    sms_consented_at = models.DateTimeField(
        _("SMS consent given at"), null=True, blank=True,
        help_text=_("When the resident (or the booker) agreed to receive SMS at the mobile number given."))
    # The LINE user id of the family member or carer who booked, when the messages go to them (to_booker) and they
    # linked LINE to this booking. Same rules as Participant.line_user_id.
    booker_line_user_id = models.CharField(_("booker's LINE user id"), max_length=64, blank=True, db_index=True,
                                           editable=False)
    token_key = models.CharField(max_length=32, default=new_token_key, editable=False)
    # 受付番号: what the person quotes on the phone (courses.references). Drawn at random; the services draw
    # again on the rare collision with the unique constraint.
    reference = models.CharField(_("booking reference"), max_length=8, unique=True, default=new_reference,
                                 editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["session", "created_at"]
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        constraints = [
            models.UniqueConstraint(fields=["session", "participant"], condition=~Q(status="cancelled"),
                                    name="one_active_registration_per_session"),
            models.UniqueConstraint(fields=["session", "waitlist_position"], condition=Q(status="waitlisted"),
                                    name="unique_waitlist_position"),
            models.CheckConstraint(
                condition=(Q(status="waitlisted", waitlist_position__isnull=False)
                           | (~Q(status="waitlisted") & Q(waitlist_position__isnull=True))),
                name="waitlist_position_iff_waitlisted"),
        ]
        indexes = [models.Index(fields=["session", "status"], name="registration_session_status")]

    def __str__(self):
        return f"{self.participant} – {self.session} ({self.get_status_display()})"

    def audit_title(self) -> str:
        """The audit log's label: ids and the session, never the person's name (cms.audit)."""
        return f"Registration {self.pk} – {self.session}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def reference_display(self) -> str:
        """The reference grouped for reading aloud: 3804-1279."""
        return format_reference(self.reference)

    def get_manage_url(self) -> str:
        return reverse("courses:registration", args=[registration_token(self)])

    def get_cancel_url(self) -> str:
        return reverse("courses:cancel", args=[registration_token(self)])


class OutgoingMessageQuerySet(models.QuerySet):
    def due(self, now=None):
        """E-mails and SMS waiting to be sent whose time has come: what a worker claims, oldest first."""
        now = now or timezone.now()
        return self.filter(status=OutgoingMessage.Status.PENDING, channel__in=OutgoingMessage.SENT_BY_WORKER,
                           next_attempt_at__lte=now).order_by("next_attempt_at", "pk")

    def call_list(self):
        """Messages for residents without e-mail that staff still have to phone, oldest first."""
        return self.filter(status=OutgoingMessage.Status.TO_CALL).order_by("created_at", "pk")

    def possibly_duplicate(self):
        """Messages that may have gone out twice (courses.outbox's duplicate windows)."""
        return self.filter(uncertain_attempts__gt=0)

    def for_partner(self, partner):
        return self.filter(session__organiser=partner)


def waitlist_rank(registration: Registration) -> int | None:
    """1 for the first person on the waiting list, and so on; None when not waitlisted."""
    if registration.status != Registration.Status.WAITLISTED:
        return None
    return registration.session.registrations.filter(
        status=Registration.Status.WAITLISTED, waitlist_position__lte=registration.waitlist_position).count()


class OutgoingMessage(models.Model):
    """The outbox: one row per logical message to one resident, written in the transaction of the change it reports.

    `key` names the logical message ("reminder:reg=123:start=…"): asking for the same message twice queues it once.
    E-mails are sent by a worker (courses.outbox); messages for residents with only a phone number go to the
    call list instead, for staff to read out (`channel` phone, status to_call → called).
    The content is rendered when the message is sent, from the current session data and `context` (what the
    event said: a cancellation reason, what changed); `subject` and `body_text` keep what was actually sent.
    Recipient fields, the snapshot and the context are personal data: the retention purge blanks them
    (`OutgoingMessage.objects.filter(...).update(**OutgoingMessage.FORGET)`), the row stays for the log.
    """

    class Kind(models.TextChoices):
        CONFIRMED = "confirmed", _("Registration confirmed")
        WAITLISTED = "waitlisted", _("Put on the waiting list")
        PROMOTED = "promoted", _("Seat from the waiting list")
        REMINDER = "reminder", _("Reminder")
        CANCELLED_BY_RESIDENT = "cancelled_by_resident", _("Cancellation confirmed")
        SESSION_CANCELLED = "session_cancelled", _("Session cancelled")
        SESSION_MOVED = "session_moved", _("Session changed")
        AFTER_SESSION = "after_session", _("Thanks for coming")
        RESENT = "resent", _("Registration sent again")
        FOLLOW_UP = "follow_up", _("Follow-up a month later")

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        LINE = "line", _("LINE")
        PHONE = "phone", _("Phone call")

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("message status", "Waiting to be sent")
        SENDING = "sending", pgettext_lazy("message status", "Sending")
        SENT = "sent", pgettext_lazy("message status", "Sent")
        FAILED = "failed", pgettext_lazy("message status", "Failed")
        CANCELLED = "cancelled", pgettext_lazy("message status", "Not needed any more")
        TO_CALL = "to_call", pgettext_lazy("message status", "To call")
        CALLED = "called", pgettext_lazy("message status", "Called")

    class DeliveryStatus(models.TextChoices):
        DELIVERED = "delivered", pgettext_lazy("delivery", "Delivered")
        BOUNCED = "bounced", pgettext_lazy("delivery", "Bounced")
        DROPPED = "dropped", pgettext_lazy("delivery", "Dropped by the provider")
        SPAM_REPORT = "spam_report", pgettext_lazy("delivery", "Reported as spam")
        UNDELIVERED = "undelivered", pgettext_lazy("delivery", "Not delivered")

    # The channels a worker sends through (the phone channel is the staff call list).
    SENT_BY_WORKER = (Channel.EMAIL, Channel.SMS, Channel.LINE)

    # What the retention purge blanks: everything that says who the message was for or what it said.
    FORGET = {"to_name": "", "to_email": "", "to_phone": "", "to_line": "", "subject": "", "body_text": "",
              "context": {}, "delivery_detail": ""}

    key = models.CharField(_("message key"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    # SET_NULL, not PROTECT: the log must never stand in the way of deleting a registration; a message whose
    # registration is gone is not sent.
    registration = models.ForeignKey(Registration, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="messages", verbose_name=_("registration"))
    session = models.ForeignKey(Session, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="messages", verbose_name=_("session"))
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, default="ja")
    to_name = models.CharField(_("recipient's name"), max_length=100, blank=True)
    to_email = models.EmailField(_("recipient's e-mail"), blank=True)
    to_phone = models.CharField(_("recipient's phone"), max_length=15, blank=True)
    to_line = models.CharField(_("recipient's LINE user id"), max_length=64, blank=True, editable=False)
    to_booker = models.BooleanField(
        _("sent to the booker"), default=False,
        help_text=_("The person taking part has no contact of their own: the family member or carer who booked "
                    "is told instead."))
    context = models.JSONField(_("details"), default=dict, blank=True,
                               help_text=_("What the event said, e.g. the reason for a cancellation."))
    send_after = models.DateTimeField(_("send after"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    lease_expires_at = models.DateTimeField(_("claimed until"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # The duplicate window (courses.outbox's docstring): attempts after which the message may have gone out although
    # no success was recorded (no answer after the request was sent, a worker lost while sending). Only ever
    # incremented: a later success or a staff retry never clears it, so the log keeps saying it may have gone twice.
    uncertain_attempts = models.PositiveIntegerField(
        _("attempts that may have been sent"), default=0,
        help_text=_("Attempts without an answer after the request was sent: the message may have gone out more "
                    "than once."))
    uncertain_note = models.TextField(_("may have been sent already"), blank=True,
                                      help_text=_("Why the message may have gone out more than once."))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True,
                                   help_text=_("For a phone call: when staff marked it as called."))
    sendgrid_message_id = models.CharField(_("SendGrid message id"), max_length=100, blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=100, blank=True,
                                           help_text=_("For an SMS: Twilio's message SID."))
    # What it cost: SMS segments, or LINE messages in the push (LINE's monthly quota counts these). Null for e-mail.
    units = models.PositiveSmallIntegerField(_("billed units"), null=True, blank=True,
                                             help_text=_("SMS segments, or LINE messages, counted against the "
                                                         "month's budget."))
    # What the provider reported afterwards (SendGrid's Event Webhook, Twilio's status callback).
    delivery_status = models.CharField(_("delivery"), max_length=20, choices=DeliveryStatus.choices, blank=True)
    delivery_status_at = models.DateTimeField(_("delivery reported at"), null=True, blank=True)
    delivery_detail = models.TextField(_("delivery report"), blank=True)
    # A message that could not go by its channel (an invalid mobile number, the channel switched off) continues as a
    # new row on the next channel (courses.outbox.fall_back): each attempt stays in the log under its channel.
    fallback_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="fallbacks", verbose_name=_("instead of"))
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", verbose_name=_("called by"))
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OutgoingMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="message_status_due"),
            models.Index(fields=["status", "lease_expires_at"], name="message_status_lease"),
            models.Index(fields=["created_at"], name="message_created"),
            # The month's use of the paid channels (courses.channel_budget), read about once a minute per process.
            models.Index(fields=["channel", "sent_at"], name="message_channel_sent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=["email", "sms", "line"]) | Q(status__in=["to_call", "called", "cancelled"]),
                name="message_phone_status"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} → {self.masked_recipient or '-'} ({self.get_status_display()})"

    def audit_title(self) -> str:
        """The audit log's label: the kind and an id, never the recipient (cms.audit)."""
        return f"{self.get_kind_display()} {self.pk}"

    @property
    def recipient_address(self) -> str:
        return self.to_email if self.channel == self.Channel.EMAIL else self.to_phone

    @property
    def masked_recipient(self) -> str:
        """The address with most of it hidden, for lists that partner staff see: ta***@example.jp, 090-****-5678."""
        if self.channel == self.Channel.EMAIL:
            return mask_email(self.to_email)
        return mask_phone(self.to_phone)

    @property
    def is_phone_call(self) -> bool:
        return self.channel == self.Channel.PHONE

    @property
    def possibly_duplicate(self) -> bool:
        """It may have reached the resident more than once (or once although it was not recorded as sent)."""
        return self.uncertain_attempts > 0


def mask_email(address: str) -> str:
    if not address or "@" not in address:
        return ""
    local, domain = address.rsplit("@", 1)
    return f"{local[:2]}***@{domain}"


def mask_phone(number: str) -> str:
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}-****-{digits[-4:]}"


class UndeliverableContact(models.Model):
    """An e-mail address or phone number a provider reported as undeliverable (a hard bounce, a spam report, an
    invalid or unreachable number): messages to it move to the next channel (courses.outbox.channel_for). Personal
    data: the retention purge deletes rows whose address no longer belongs to anyone kept."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone number")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    address = models.CharField(_("address"), max_length=254)
    reason = models.TextField(_("reason"), blank=True)
    noted_at = models.DateTimeField(_("noted at"), default=timezone.now)

    class Meta:
        verbose_name = _("undeliverable contact")
        verbose_name_plural = _("undeliverable contacts")
        constraints = [models.UniqueConstraint(fields=["kind", "address"], name="one_undeliverable_per_address")]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.noted_at:%Y-%m-%d})"


class LineLinkCode(models.Model):
    """A one-time code that links a LINE account to whoever receives a booking's messages (courses.line_linking):
    the resident sends it to the city's LINE account, or opens the link that carries it."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="line_link_codes",
                                     verbose_name=_("registration"))
    for_booker = models.BooleanField(_("for the booker"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("LINE link code")
        verbose_name_plural = _("LINE link codes")

    def __str__(self):
        return f"{self.registration_id} ({self.created_at:%Y-%m-%d})"


class LineWebhookEvent(models.Model):
    """A LINE webhook event already handled (its webhookEventId): a redelivered or replayed event is ignored."""

    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("LINE webhook event")
        verbose_name_plural = _("LINE webhook events")

    def __str__(self):
        return self.event_id


class SessionStaff(models.Model):
    """An instructor or assistant assigned to a session. The city's guideline is at least one per 4 confirmed
    attendees (`Session` pages and the session list warn below it)."""

    class Role(models.TextChoices):
        INSTRUCTOR = "instructor", _("Instructor")
        ASSISTANT = "assistant", _("Assistant")

    # Attendees per staff member before the admin warns that a session is short of staff.
    ATTENDEES_PER_STAFF = 4

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="staff_assignments",
                                verbose_name=_("session"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_assignments",
                             verbose_name=_("staff member"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.INSTRUCTOR)

    class Meta:
        ordering = ["session", "role", "pk"]
        verbose_name = _("session staff member")
        verbose_name_plural = _("session staff")
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="one_assignment_per_session_user")]

    def __str__(self):
        return f"{self.user} – {self.get_role_display()}"

    @classmethod
    def is_understaffed(cls, *, staff_count: int, confirmed_count: int) -> bool:
        """Fewer than one staff member per ATTENDEES_PER_STAFF confirmed attendees."""
        return staff_count * cls.ATTENDEES_PER_STAFF < confirmed_count
