"""Forms of the call-centre views in the Wagtail admin (courses/admin/call_centre.py)."""

from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from courses.forms import RegistrationForm
from courses.models import Participant, Registration, Session


def _verbose_name(model, field_name):
    return capfirst(model._meta.get_field(field_name).verbose_name)


class PhoneBookingForm(RegistrationForm):
    """The resident's registration form, worded for staff taking a call.

    Same fields and the same validation as the public form (one rule for both). Consent is given verbally, and
    the caller is either the person attending or someone booking for them (a family member or carer).
    """

    language = forms.ChoiceField(label=_verbose_name(Participant, "language"), choices=settings.LANGUAGES,
                                 initial="ja")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["booking_for"].label = _("Who is calling?")
        fields["booking_for"].choices = [
            (self.SELF, _("The person who will attend")),
            (self.OTHER, _("Someone booking for them (a family member or carer)")),
        ]
        fields["name"].label = _verbose_name(Participant, "name")
        fields["kana"].label = _verbose_name(Participant, "kana")
        fields["phone"].label = _verbose_name(Participant, "phone")
        fields["email"].label = _verbose_name(Participant, "email")
        fields["email"].help_text = ""
        fields["age_band"].label = _verbose_name(Participant, "age_band")
        fields["ward"].label = _verbose_name(Participant, "ward")
        fields["device"].label = _verbose_name(Participant, "device")
        fields["accessibility_needs"].label = _verbose_name(Participant, "accessibility_needs")
        fields["booker_name"].label = _verbose_name(Registration, "booker_name")
        fields["booker_relationship"].label = _verbose_name(Registration, "booker_relationship")
        fields["booker_phone"].label = _verbose_name(Registration, "booker_phone")
        fields["booker_email"].label = _verbose_name(Registration, "booker_email")
        fields["booker_email"].help_text = ""
        fields["consent"].label = _("The caller agreed to the privacy policy (read out and confirmed by phone).")
        fields["consent"].error_messages["required"] = _(
            "Read out the privacy policy and confirm that the caller agrees before booking.")
        for name in self.PERSON_FIELDS + self.BOOKER_FIELDS:
            fields[name].widget.attrs["autocomplete"] = "off"  # staff type other people's details


class MoveRegistrationForm(forms.Form):
    """Pick the session to move a booking to, among the sessions the view offers."""

    to_session = forms.ModelChoiceField(label=_("Move to"), queryset=Session.objects.none(),
                                        widget=forms.RadioSelect,
                                        error_messages={"required": _("Choose the session to move to."),
                                                        "invalid_choice": _("Choose the session to move to.")})

    def __init__(self, *args, sessions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_session"].queryset = sessions


class LookupForm(forms.Form):
    q = forms.CharField(label=_("Booking reference, phone number, name, kana or e-mail"), max_length=100,
                        required=False,
                        widget=forms.TextInput(attrs={"type": "search", "autofocus": True, "autocomplete": "off"}))


class SessionSearchForm(forms.Form):
    q = forms.CharField(label=_("Course keyword"), max_length=100, required=False,
                        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}))
