import re

from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from courses.models import Participant
from courses.normalize import is_valid_phone, normalize_email, normalize_kana, normalize_name, normalize_phone
from courses.services import ParticipantDetails
from partners.models import Ward

_KANA_ALLOWED = "ァ-ヶー・ "  # katakana, prolonged sound mark, middle dot; spaces are already folded


class RegistrationForm(forms.Form):
    """The one short form a resident fills in. Normalises contact fields; leaves names as typed."""

    name = forms.CharField(label=_("Name"), max_length=100,
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
        phone = normalize_phone(self.cleaned_data.get("phone", ""))
        if phone and not is_valid_phone(phone):
            raise forms.ValidationError(_("Please enter a phone number of 10 or 11 digits, starting with 0."))
        return phone

    def clean_email(self):
        email = normalize_email(self.cleaned_data.get("email", ""))
        if email:
            try:
                validate_email(email)
            except forms.ValidationError as exc:
                raise forms.ValidationError(_("Please enter a valid e-mail address.")) from exc
        return email

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("phone") and not cleaned.get("email"):
            raise forms.ValidationError(
                _("Please give an e-mail address or a phone number so that we can reach you."), code="contact")
        return cleaned

    def participant_details(self, language: str) -> ParticipantDetails:
        data = self.cleaned_data
        return ParticipantDetails(
            name=data["name"], kana=data["kana"], email=data["email"], phone=data["phone"],
            age_band=data["age_band"], ward_id=data["ward"].pk if data["ward"] else None,
            device=data.get("device", ""), accessibility_needs=data.get("accessibility_needs", ""),
            language=language, consent=data["consent"],
        )
