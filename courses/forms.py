import re

from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cms.normalize import is_valid_phone, normalize_email, normalize_kana, normalize_name, normalize_phone
from courses.models import CoursePage, Participant, Topic
from courses.services import BookerDetails, ParticipantDetails
from partners.models import Ward

_KANA_ALLOWED = "ァ-ヶー・ "  # katakana, prolonged sound mark, middle dot; spaces are already folded


def clean_phone_value(value: str) -> str:
    phone = normalize_phone(value or "")
    if phone and not is_valid_phone(phone):
        raise forms.ValidationError(_("Please enter a phone number of 10 or 11 digits, starting with 0."))
    return phone


def clean_email_value(value: str) -> str:
    email = normalize_email(value or "")
    if email:
        try:
            validate_email(email)
        except forms.ValidationError as exc:
            raise forms.ValidationError(_("Please enter a valid e-mail address.")) from exc
    return email


class RegistrationForm(forms.Form):
    """The one short form a resident fills in, for themself or for a parent. Normalises contact fields; leaves
    names as typed."""

    SELF = "self"
    OTHER = "other"

    booking_for = forms.ChoiceField(
        label=_("Who is this booking for?"), initial=SELF, widget=forms.RadioSelect, required=False,
        choices=[(SELF, _("For me")), (OTHER, _("For someone else (a parent, a family member, someone I care for)"))])
    name = forms.CharField(label=_("Name"), max_length=100,
                           error_messages={"required": _("Please enter your name.")},
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    kana = forms.CharField(label=_("Name in katakana"), max_length=100,
                           help_text=_("For example: カワサキ ハナコ"),
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    phone = forms.CharField(label=_("Phone number"), max_length=30, required=False,
                            help_text=_("Dashes are optional. For example: 090-1234-5678"),
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"}))
    email = forms.CharField(label=_("E-mail address"), max_length=254, required=False,
                            help_text=_("We send the confirmation and the reminder here."),
                            widget=forms.TextInput(attrs={"autocomplete": "email", "inputmode": "email",
                                                          "type": "email"}))
    age_band = forms.ChoiceField(label=_("Age"), choices=[c for c in Participant.AgeBand.choices if c[0]])
    ward = forms.ModelChoiceField(label=_("Ward you live in"), queryset=Ward.objects.all(), required=False,
                                  empty_label=_("Outside the city / prefer not to say"))
    device = forms.ChoiceField(label=_("Your phone"), required=False,
                               choices=[("", "---------"), *[c for c in Participant.Device.choices if c[0]]])
    accessibility_needs = forms.CharField(
        label=_("Anything we should prepare for you?"), required=False, max_length=500,
        help_text=_("For example: wheelchair, hearing aid, large print."),
        widget=forms.Textarea(attrs={"rows": 2}))
    consent = forms.BooleanField(
        label=_("I agree that my details are used to run this class, as described in the privacy policy."),
        error_messages={"required": _("Please agree to the privacy policy to register.")})

    def clean_name(self):
        name = normalize_name(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError(_("Please enter your name."))
        return name

    def clean_kana(self):
        kana = normalize_kana(self.cleaned_data["kana"])
        if not re.fullmatch(rf"[{_KANA_ALLOWED}]+", kana):
            raise forms.ValidationError(_("Please write your name in katakana or hiragana."))
        return kana

    def clean_phone(self):
        return clean_phone_value(self.cleaned_data.get("phone", ""))

    def clean_email(self):
        return clean_email_value(self.cleaned_data.get("email", ""))

    def clean_booker_phone(self):
        return clean_phone_value(self.cleaned_data.get("booker_phone", ""))

    def clean_booker_email(self):
        return clean_email_value(self.cleaned_data.get("booker_email", ""))

    def clean_booker_name(self):
        return normalize_name(self.cleaned_data.get("booker_name", ""))

    @property
    def for_someone_else(self) -> bool:
        return self.cleaned_data.get("booking_for") == self.OTHER

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.for_someone_else:
            if not cleaned.get("booker_name"):
                self.add_error("booker_name", _("Please enter your own name, as the person making the booking."))
            if not cleaned.get("booker_relationship"):
                self.add_error("booker_relationship", _("Please tell us how you are related to the person attending."))
            if not cleaned.get("booker_phone") and not cleaned.get("booker_email"):
                self.add_error("booker_phone", _("Please give your own phone number or e-mail address so that we "
                                                 "can reach you about this booking."))
        elif not cleaned.get("phone") and not cleaned.get("email"):
            raise forms.ValidationError(
                _("Please give an e-mail address or a phone number so that we can reach you."), code="contact")
        return cleaned

    def booker_details(self) -> BookerDetails | None:
        if not self.for_someone_else:
            return None
        data = self.cleaned_data
        return BookerDetails(name=data["booker_name"], relationship=data["booker_relationship"],
                             email=data["booker_email"], phone=data["booker_phone"])

    booker_name = forms.CharField(label=_("Your name"), max_length=100, required=False,
                                  widget=forms.TextInput(attrs={"autocomplete": "name"}))
    booker_relationship = forms.CharField(label=_("Your relationship to the person attending"), max_length=50,
                                          required=False, help_text=_("For example: daughter, son, carer"))
    booker_phone = forms.CharField(label=_("Your phone number"), max_length=30, required=False,
                                   widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel",
                                                                 "type": "tel"}))
    booker_email = forms.CharField(label=_("Your e-mail address"), max_length=254, required=False,
                                   help_text=_("If the person attending has no phone or e-mail of their own, "
                                               "we send the confirmation and the reminder to you."),
                                   widget=forms.TextInput(attrs={"autocomplete": "email", "inputmode": "email",
                                                                 "type": "email"}))

    PERSON_FIELDS = ["name", "kana", "phone", "email", "age_band", "ward", "device", "accessibility_needs"]
    BOOKER_FIELDS = ["booker_name", "booker_relationship", "booker_phone", "booker_email"]

    def participant_details(self, language: str) -> ParticipantDetails:
        data = self.cleaned_data
        return ParticipantDetails(
            name=data["name"], kana=data["kana"], email=data["email"], phone=data["phone"],
            age_band=data["age_band"], ward_id=data["ward"].pk if data["ward"] else None,
            device=data.get("device", ""), accessibility_needs=data.get("accessibility_needs", ""),
            language=language, consent=data["consent"],
        )


class SessionFilterForm(forms.Form):
    """Filters of the class listing (GET). Every field is optional; invalid values are ignored."""

    q = forms.CharField(label=_("Keyword"), required=False, max_length=100,
                        help_text=_("For example: スマホ, LINE, マイナンバー"),
                        widget=forms.TextInput(attrs={"type": "search"}))
    ward = forms.ModelChoiceField(label=_("Ward"), queryset=Ward.objects.all(), required=False,
                                  empty_label=_("All wards"))
    topic = forms.ModelChoiceField(label=_("Topic"), queryset=None, required=False, empty_label=_("All topics"),
                                   to_field_name="slug")
    level = forms.ChoiceField(label=_("Level"), required=False)
    device = forms.ChoiceField(label=pgettext_lazy("kind of phone", "Phone"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    free = forms.BooleanField(label=_("Only classes with free seats"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topic"].queryset = Topic.objects.all()
        self.fields["level"].choices = [("", _("All levels")), *CoursePage.Level.choices]
        self.fields["device"].choices = [("", _("Any phone")), *CoursePage.Device.choices]

    @property
    def ignored(self) -> list[str]:
        """Labels of the filters whose values could not be used (they are ignored, and the page says so)."""
        return [str(self.fields[name].label) for name in self.errors if name in self.fields]

    def filters(self) -> dict:
        """The valid filters only: a bad value in the address bar never breaks the listing."""
        self.is_valid()
        return {name: value for name, value in getattr(self, "cleaned_data", {}).items()
                if name not in self.errors and value not in (None, "", False)}
