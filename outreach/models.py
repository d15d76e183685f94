from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cms.i18n import localized
from courses.models import Participant


class SkillItem(models.Model):
    """One of the can-do self-assessment items (できることチェック). Items are data, loaded by a migration."""

    class Group(models.TextChoices):
        FOUNDATION = "foundation", _("Foundation")
        COMMUNICATING = "communicating", _("Communicating")
        INFORMATION = "information", _("Handling information")
        TRANSACTING = "transacting", _("Transacting")
        SAFE_ONLINE = "safe_online", _("Being safe online")
        PROBLEM_SOLVING = "problem_solving", _("Problem solving")

    number = models.PositiveSmallIntegerField(_("number"), unique=True)
    text = models.CharField(_("text"), max_length=200)
    text_en = models.CharField(_("text (English)"), max_length=200, blank=True)
    group = models.CharField(_("group"), max_length=20, choices=Group.choices)

    class Meta:
        ordering = ["number"]
        verbose_name = _("can-do item")
        verbose_name_plural = _("can-do items")

    def __str__(self):
        return f"{self.number}. {localized(self, 'text')}"


# Age bands of PRODUCT.md, as stored on participants and consultations (courses.Participant.AgeBand).
AGE_BAND_CHOICES = [
    ("u20", _("Under 20")), ("20-29", _("20–29")), ("30-39", _("30–39")), ("40-49", _("40–49")),
    ("50-59", _("50–59")), ("60-64", _("60–64")), ("65-69", _("65–69")), ("70-74", _("70–74")),
    ("75-79", _("75–79")), ("80-84", _("80–84")), ("85+", _("85 and over")),
]


class ConsultationTopic(models.Model):
    """What a support-desk consultation was about. Data (a migration loads the usual ones); several per consultation."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    # Consultation topics are the support desks' list, not the courses': which course topics answer this kind of
    # question, so that the planning view counts such consultations as demand for them (outreach.planning).
    course_topics = models.ManyToManyField(
        "courses.Topic", blank=True, related_name="consultation_topics", verbose_name=_("course topics"),
        help_text=_("The course topics that answer this kind of consultation: the planning view counts these "
                    "consultations as demand for classes on them."))

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = _("consultation topic")
        verbose_name_plural = _("consultation topics")

    def __str__(self):
        return localized(self, "name")


class Consultation(models.Model):
    """One support-desk consultation (デジタル相談) by ward-office digital support staff. No names, by design."""

    class Place(models.TextChoices):
        WARD_OFFICE = "ward_office", _("Ward office")
        COMMUNITY_CENTRE = "community_centre", _("Community centre")
        OUTREACH_EVENT = "outreach_event", _("Outreach event")

    Residence = Participant.Residence

    class Outcome(models.TextChoices):
        SOLVED = "solved", _("Solved")
        REFERRED_CLASS = "referred_class", _("Referred to a class")
        REFERRED_ELSEWHERE = "referred_elsewhere", _("Referred elsewhere")

    date = models.DateField(_("date"), db_index=True)
    place = models.CharField(_("place"), max_length=20, choices=Place.choices)
    place_ward = models.ForeignKey("partners.Ward", on_delete=models.PROTECT, related_name="consultations_held",
                                   verbose_name=_("ward where it took place"))
    age_band = models.CharField(_("age band"), max_length=6, choices=AGE_BAND_CHOICES, blank=True)
    residence_ward = models.ForeignKey("partners.Ward", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="consultations", verbose_name=_("ward of residence"))
    # As on participants: a ward of the city (residence_ward says which), outside the city or "not given" are three
    # answers; blank only on consultations recorded before the question had them (a ward then meant the city).
    residence = models.CharField(_("residence"), max_length=10, choices=Participant.Residence.choices, blank=True,
                                 help_text=_("A ward of the city, outside the city, or prefer not to say."))
    topics = models.ManyToManyField(ConsultationTopic, related_name="consultations", verbose_name=_("topics"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("length (minutes)"), default=15)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("recorded by"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    # Tells the dashboard's chart cache that a correction changed the figures.
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    class Meta:
        ordering = ["-date", "-created_at"]
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        constraints = [
            models.CheckConstraint(condition=models.Q(duration_minutes__gte=1, duration_minutes__lte=600),
                                   name="consultation_duration_range"),
        ]

    def __str__(self):
        return f"{self.date} {self.get_place_display()} ({self.get_outcome_display()})"


class SelfAssessment(models.Model):
    """A can-do self-assessment (できることチェック), before or after the course of one registration."""

    class Kind(models.TextChoices):
        PRE = "pre", _("Before the course")
        POST = "post", _("After the course")

    class Source(models.TextChoices):
        ONLINE = "online", _("Online, by the resident")
        TABLET = "tablet", _("Tablet at the class")
        PAPER = "paper", _("Typed in from paper")

    registration = models.ForeignKey("courses.Registration", on_delete=models.PROTECT,
                                     related_name="self_assessments", verbose_name=_("registration"))
    kind = models.CharField(_("when"), max_length=4, choices=Kind.choices)
    source = models.CharField(_("entered"), max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("entered by"))
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)

    class Meta:
        ordering = ["registration", "kind"]
        verbose_name = _("self-assessment")
        verbose_name_plural = _("self-assessments")
        constraints = [
            models.UniqueConstraint(fields=["registration", "kind"], name="one_self_assessment_per_kind"),
        ]

    def __str__(self):
        return f"{self.registration_id} {self.get_kind_display()}"


class SkillScore(models.Model):
    """One answer of a self-assessment: the 0–3 scale of PRODUCT.md."""

    class Score(models.IntegerChoices):
        CANNOT = 0, _("I can't")
        WITH_HELP = 1, _("With help")
        ON_MY_OWN = 2, _("On my own")
        COULD_TEACH = 3, _("I could teach others")

    assessment = models.ForeignKey(SelfAssessment, on_delete=models.CASCADE, related_name="scores",
                                   verbose_name=_("self-assessment"))
    item = models.ForeignKey(SkillItem, on_delete=models.PROTECT, related_name="scores", verbose_name=_("item"))
    score = models.PositiveSmallIntegerField(_("score"), choices=Score.choices)

    class Meta:
        ordering = ["assessment", "item__number"]
        verbose_name = _("can-do score")
        verbose_name_plural = _("can-do scores")
        constraints = [
            models.UniqueConstraint(fields=["assessment", "item"], name="one_score_per_item"),
            models.CheckConstraint(condition=models.Q(score__lte=3), name="score_range"),
        ]

    def __str__(self):
        return f"{self.item.number}: {self.score}"


class FollowUpTask(models.Model):
    """One question of the follow-up a month after the class (追跡調査): "have you since done this on your own?".
    Data (outreach/migrations/0009_follow_up.py loads the usual five); `related_items` are the can-do items whose
    "before" answers the report compares with (outreach.followups: the change from before the class)."""

    slug = models.SlugField(_("code"), max_length=40, unique=True)
    number = models.PositiveSmallIntegerField(_("order"), unique=True)
    text = models.CharField(_("question"), max_length=200)
    text_en = models.CharField(_("question (English)"), max_length=200, blank=True)
    related_items = models.ManyToManyField(SkillItem, blank=True, related_name="follow_up_tasks",
                                           verbose_name=_("related can-do items"),
                                           help_text=_("The can-do items whose answers before the class this "
                                                       "question is compared with."))
    active = models.BooleanField(_("asked"), default=True, help_text=_("Only the questions asked are on the form."))

    class Meta:
        ordering = ["number"]
        verbose_name = _("follow-up question")
        verbose_name_plural = _("follow-up questions")

    def __str__(self):
        return f"{self.number}. {localized(self, 'text')}"


class FollowUp(models.Model):
    """The answers of one registration's follow-up, by the resident's link, the tablet or a paper sheet (or a call)."""

    class Source(models.TextChoices):
        ONLINE = "online", _("Online, by the resident")
        TABLET = "tablet", _("Tablet, by the resident")
        PAPER = "paper", _("Typed in from paper")
        PHONE = "phone", _("Asked by phone")

    registration = models.OneToOneField("courses.Registration", on_delete=models.PROTECT,
                                        related_name="follow_up", verbose_name=_("registration"))
    source = models.CharField(_("entered"), max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("entered by"))
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)

    class Meta:
        ordering = ["registration"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")

    def __str__(self):
        return f"{self.registration_id} {self.get_source_display()}"


class FollowUpAnswer(models.Model):
    """One answer of a follow-up."""

    class Answer(models.TextChoices):
        YES = "yes", _("Yes, on my own")
        WITH_HELP = "with_help", _("Yes, with help")
        NOT_YET = "not_yet", _("Not yet")
        NO_NEED = "no_need", _("I have no need to")

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="answers",
                                  verbose_name=_("follow-up"))
    task = models.ForeignKey(FollowUpTask, on_delete=models.PROTECT, related_name="answers",
                             verbose_name=_("question"))
    answer = models.CharField(_("answer"), max_length=10, choices=Answer.choices)

    class Meta:
        ordering = ["follow_up", "task__number"]
        verbose_name = _("follow-up answer")
        verbose_name_plural = _("follow-up answers")
        constraints = [
            models.UniqueConstraint(fields=["follow_up", "task"], name="one_follow_up_answer_per_task"),
            models.CheckConstraint(condition=models.Q(answer__in=["yes", "with_help", "not_yet", "no_need"]),
                                   name="follow_up_answer_valid"),
        ]

    def __str__(self):
        return f"{self.task.number}: {self.answer}"


class Framework(models.Model):
    """A published skills framework the reports speak the language of: the national digital-support programme's
    standard curriculum (デジタル活用支援推進事業) and the UK Essential Digital Skills framework. Data staff edit."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=300, blank=True,
                              help_text=_("Who publishes it, and which version the themes follow."))
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("skills framework")
        verbose_name_plural = _("skills frameworks")

    def __str__(self):
        return localized(self, "name")


class FrameworkTheme(models.Model):
    """One theme of a framework, and the can-do items and follow-up questions mapped onto it (several each)."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="themes",
                                  verbose_name=_("framework"))
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    skill_items = models.ManyToManyField(SkillItem, blank=True, related_name="framework_themes",
                                         verbose_name=_("can-do items"))
    follow_up_tasks = models.ManyToManyField(FollowUpTask, blank=True, related_name="framework_themes",
                                             verbose_name=_("follow-up questions"))

    class Meta:
        ordering = ["framework__sort_order", "sort_order", "code"]
        verbose_name = _("framework theme")
        verbose_name_plural = _("framework themes")
        constraints = [models.UniqueConstraint(fields=["framework", "code"], name="one_theme_code_per_framework")]

    def __str__(self):
        return f"{self.framework}: {localized(self, 'name')}"


class PopulationFigure(models.Model):
    """Residents of one ward in one age band in one year (census or resident register), imported by city staff."""

    year = models.PositiveSmallIntegerField(_("year"))
    ward = models.ForeignKey("partners.Ward", on_delete=models.PROTECT, related_name="population",
                             verbose_name=_("ward"))
    age_band = models.CharField(_("age band"), max_length=6, choices=AGE_BAND_CHOICES)
    population = models.PositiveIntegerField(_("population"))

    class Meta:
        ordering = ["year", "ward__sort_order", "age_band"]
        verbose_name = _("population figure")
        verbose_name_plural = _("population figures")
        constraints = [
            models.UniqueConstraint(fields=["year", "ward", "age_band"], name="one_population_figure"),
        ]

    def __str__(self):
        return f"{self.year} {self.ward} {self.get_age_band_display()}: {self.population}"


# The age bands of the national communications usage survey (通信利用動向調査).
SURVEY_BAND_CHOICES = [
    ("6-12", _("6–12")), ("13-19", _("13–19")), ("20-29", _("20–29")), ("30-39", _("30–39")),
    ("40-49", _("40–49")), ("50-59", _("50–59")), ("60-69", _("60–69")), ("70-79", _("70–79")),
    ("80+", _("80 and over")), ("all", _("All ages")),
]


class InternetUsageRate(models.Model):
    """The share of people of an age band who used the internet in a year (per cent), from a survey."""

    class Source(models.TextChoices):
        NATIONAL = "national", _("National survey")
        CITY = "city", _("City survey")

    year = models.PositiveSmallIntegerField(_("year"))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.NATIONAL)
    age_band = models.CharField(_("age band"), max_length=6, choices=SURVEY_BAND_CHOICES)
    rate = models.DecimalField(_("usage rate (%)"), max_digits=5, decimal_places=1)

    class Meta:
        ordering = ["year", "source", "age_band"]
        verbose_name = _("internet usage rate")
        verbose_name_plural = _("internet usage rates")
        constraints = [
            models.UniqueConstraint(fields=["year", "source", "age_band"], name="one_usage_rate"),
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lte=100), name="usage_rate_range"),
        ]

    def __str__(self):
        return f"{self.year} {self.get_age_band_display()}: {self.rate}%"


class KpiTarget(models.Model):
    """A target of the city's plan for one fiscal year (April–March)."""

    class Metric(models.TextChoices):
        PARTICIPANTS_65_PLUS = "participants_65_plus", _("Participants aged 65 and over")
        UNIQUE_PARTICIPANTS = "unique_participants", _("Participants")
        ATTENDANCES = "attendances", _("Attendances")
        SESSIONS_HELD = "sessions_held", _("Sessions held")
        CONSULTATIONS = "consultations", _("Support-desk consultations")
        FOUNDATION_ON_MY_OWN = "foundation_on_my_own", _("Share reaching “on my own” on the foundation items (%)")

    fiscal_year = models.PositiveSmallIntegerField(_("fiscal year"), help_text=_("FY2025 = April 2025 to March 2026."))
    metric = models.CharField(_("indicator"), max_length=30, choices=Metric.choices)
    target = models.DecimalField(_("target"), max_digits=12, decimal_places=1)

    class Meta:
        ordering = ["fiscal_year", "metric"]
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        constraints = [
            models.UniqueConstraint(fields=["fiscal_year", "metric"], name="one_kpi_target"),
            models.CheckConstraint(condition=models.Q(target__gte=0), name="kpi_target_not_negative"),
        ]
        # Who may open the outreach dashboard (city staff see the city, partner staff their partner).
        permissions = [("view_dashboard", _("Can view the outreach dashboard"))]

    def __str__(self):
        return f"FY{self.fiscal_year} {self.get_metric_display()}: {self.target}"


# The dashboard's pre-aggregated tables live beside the code that fills them (outreach/summaries.py).
from outreach.summaries import (  # noqa: E402,F401
    FoundationSummary,
    PeopleSummary,
    RegistrationSummary,
    SessionSummary,
    SkillSummary,
    SummaryRefresh,
    TopicSummary,
)
