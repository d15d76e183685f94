"""Forms of the outreach admin: the support-desk consultation entry (built for fast, keyboard-only entry) and the
consultation list's filters. Uploads use the partner spreadsheets' form (courses.admin.spreadsheets.ImportForm)."""

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from courses.forms import ResidenceField, StaffResidenceField
from outreach.consultations import MAX_DURATION, MIN_DURATION, ConsultationFilters
from outreach.models import AGE_BAND_CHOICES, Consultation, ConsultationTopic
from partners.models import Ward

NOT_GIVEN = "not_given"  # the age band radio for "not given" (stored as "")


def _label(field_name: str) -> str:
    return capfirst(Consultation._meta.get_field(field_name).verbose_name)


class FocusRadioSelect(forms.RadioSelect):
    """Radios whose first option can carry `autofocus` (one element only, not every radio of the group)."""

    autofocus = False

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"].pop("autofocus", None)
        if self.autofocus and index == 0:
            option["attrs"]["autofocus"] = True
        return option


class FocusCheckboxSelectMultiple(forms.CheckboxSelectMultiple):
    autofocus = False

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"].pop("autofocus", None)
        if self.autofocus and index == 0:
            option["attrs"]["autofocus"] = True
        return option


class ConsultationForm(forms.Form):
    """One consultation. Where and when come prefilled (today, and the user's usual place: where they recorded
    their last consultation; nothing the first time). Everything else feeds the figures, so it starts empty and is
    picked each time, "Not given" (and "Outside the city") being answers of their own. Native radios, checkboxes
    and selects only: usable with the keyboard alone."""

    # Fields in the order they are shown and tabbed through.
    WHERE_FIELDS = ("date", "place", "place_ward")
    PICK_FIELDS = ("age_band", "residence_ward", "topics", "outcome", "duration_minutes")

    date = forms.DateField(label=_label("date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                           error_messages={"required": _("Give the date of the consultation.")})
    place = forms.ChoiceField(label=_label("place"), choices=Consultation.Place.choices, widget=FocusRadioSelect,
                              error_messages={"required": _("Choose where the consultation took place.")})
    place_ward = forms.ModelChoiceField(label=_label("place_ward"), queryset=Ward.objects.all(),
                                        empty_label=_("Please choose"),
                                        error_messages={"required": _("Choose the ward.")})
    age_band = forms.ChoiceField(label=_label("age_band"), widget=FocusRadioSelect,
                                 choices=[*AGE_BAND_CHOICES, (NOT_GIVEN, _("Not given"))],
                                 error_messages={"required": _("Choose the age band (or “Not given”).")})
    residence_ward = StaffResidenceField(
        label=_("Where they live"),
        error_messages={"required": _("Choose the ward, “Outside the city” or “Not given”."),
                        "invalid_choice": _("Choose the ward, “Outside the city” or “Not given”.")})
    topics = forms.ModelMultipleChoiceField(label=_label("topics"), queryset=ConsultationTopic.objects.all(),
                                            widget=FocusCheckboxSelectMultiple,
                                            error_messages={"required": _("Choose at least one topic.")})
    outcome = forms.ChoiceField(label=_label("outcome"), choices=Consultation.Outcome.choices,
                                widget=FocusRadioSelect, error_messages={"required": _("Choose the outcome.")})
    # Summed into the consultations' minutes (outreach.metrics.consultation_figures): typed each time, no default.
    duration_minutes = forms.IntegerField(label=_label("duration_minutes"), min_value=MIN_DURATION,
                                          max_value=MAX_DURATION,
                                          error_messages={"required": _("Give the length in minutes.")},
                                          widget=forms.NumberInput(attrs={"inputmode": "numeric"}))

    def __init__(self, *args, instance: Consultation | None = None, **kwargs):
        if instance is not None:
            kwargs.setdefault("initial", {
                "date": instance.date, "place": instance.place, "place_ward": instance.place_ward_id,
                "age_band": instance.age_band or NOT_GIVEN,
                "residence_ward": instance.residence_ward_id or instance.residence or None,
                "topics": [topic.pk for topic in instance.topics.all()], "outcome": instance.outcome,
                "duration_minutes": instance.duration_minutes})
        super().__init__(*args, **kwargs)
        self.instance = instance

    @property
    def where_fields(self):
        return [self[name] for name in self.WHERE_FIELDS]

    @property
    def pick_fields(self):
        return [self[name] for name in self.PICK_FIELDS]

    def focus(self) -> str:
        """Put the cursor on the first field with an error, or else on the first one to fill in (a where field
        with nothing prefilled, or else the first to pick). Returns its name."""
        if self.is_bound:
            names = [*self.WHERE_FIELDS, *self.PICK_FIELDS]
            target = next((name for name in names if self.errors.get(name)), self.PICK_FIELDS[0])
        else:
            target = next((name for name in self.WHERE_FIELDS if self.get_initial_for_field(self.fields[name], name)
                           in (None, "")), self.PICK_FIELDS[0])
        widget = self.fields[target].widget
        if isinstance(widget, FocusRadioSelect | FocusCheckboxSelectMultiple):
            widget.autofocus = True
        else:
            widget.attrs["autofocus"] = True
        return target

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        residence_ward, residence = self.fields["residence_ward"].split(data["residence_ward"])
        return {"date": data["date"], "place": data["place"], "place_ward": data["place_ward"],
                "age_band": "" if data["age_band"] == NOT_GIVEN else data["age_band"],
                "residence_ward": residence_ward, "residence": residence, "topics": list(data["topics"]),
                "outcome": data["outcome"], "duration_minutes": data["duration_minutes"]}


class ConsultationFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    place_ward = forms.ModelChoiceField(label=_label("place_ward"), queryset=Ward.objects.all(), required=False,
                                        empty_label=_("All"))
    residence_ward = forms.ChoiceField(label=_("Where they live"), required=False,
                                       choices=lambda: [("", _("All")), *StaffResidenceField.answers()[1:]])
    place = forms.ChoiceField(label=_label("place"), required=False,
                              choices=[("", _("All")), *Consultation.Place.choices])
    outcome = forms.ChoiceField(label=_label("outcome"), required=False,
                                choices=[("", _("All")), *Consultation.Outcome.choices])
    topic = forms.ModelChoiceField(label=_("Topic"), queryset=ConsultationTopic.objects.all(), required=False,
                                   empty_label=_("All"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def filters(self) -> ConsultationFilters:
        """The filters given (an invalid form filters nothing)."""
        if not self.is_valid():
            return ConsultationFilters()
        data = self.cleaned_data
        residence = data["residence_ward"]
        residence_ward = None
        if residence and residence not in ResidenceField.OTHER_ANSWERS:
            residence_ward, residence = Ward.objects.filter(pk=int(residence)).first(), ""
        return ConsultationFilters(date_from=data["date_from"], date_to=data["date_to"],
                                   place_ward=data["place_ward"], residence_ward=residence_ward, residence=residence,
                                   place=data["place"], outcome=data["outcome"], topic=data["topic"])
