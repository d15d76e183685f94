import re

from django import forms
from django.core.validators import validate_email
from django.forms.renderers import DjangoTemplates
from django.utils.choices import BaseChoiceIterator, normalize_choices
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cms.normalize import (
    format_phone,
    is_latin_name,
    is_valid_phone,
    normalize_email,
    normalize_kana,
    normalize_name,
    normalize_phone,
)
from courses import line_linking
from courses.models import CoursePage, Participant, Registration, Topic
from courses.recipients import MOBILE, Recipient, is_mobile, recipient_for
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


# The form's value for an explicit "prefer not to say" age (stored as no band).
DECLINED = "declined"


class _ChoicesReadOnce(BaseChoiceIterator):
    """Choices read from the database when first needed, then kept for the form: a select reads its choices twice
    (its options, and Django's check whether its first choice is empty for `required`). Each form's copy of the
    field starts afresh, so a form never shows choices older than itself."""

    def __init__(self, func):
        self.func = func
        self.read = None

    def __iter__(self):
        if self.read is None:
            self.read = list(normalize_choices(self.func()))
        yield from self.read

    def __copy__(self):
        return type(self)(self.func)

    def __deepcopy__(self, memo):
        return type(self)(self.func)


class ResidenceField(forms.ChoiceField):
    """Where the person lives: one of the city's wards (its id), "outside" the city, or "declined" (prefer not to
    say). The wards are read when the field is shown or a ward's id is checked, not when the form is made."""

    OTHER_ANSWERS = (Participant.Residence.OUTSIDE.value, Participant.Residence.DECLINED.value)

    def __init__(self, **kwargs):
        super().__init__(choices=_ChoicesReadOnce(self.answers), **kwargs)

    @staticmethod
    def answers():
        return [("", _("Please choose")), *[(str(ward.pk), str(ward)) for ward in Ward.objects.all()],
                (Participant.Residence.OUTSIDE.value, Participant.Residence.OUTSIDE.label),
                (Participant.Residence.DECLINED.value, Participant.Residence.DECLINED.label)]

    chosen_ward = None  # the ward that valid_value found, for split()

    def valid_value(self, value):
        if value in self.OTHER_ANSWERS:
            return True
        if not (str(value).isdigit() and int(value) < 2**31):
            return False
        self.chosen_ward = Ward.objects.filter(pk=int(value)).first()
        return self.chosen_ward is not None

    def split(self, value: str) -> tuple[Ward | None, str]:
        """A valid answer as stored: (the ward or None, the Participant.Residence value)."""
        if value in self.OTHER_ANSWERS:
            return None, value
        return self.chosen_ward, Participant.Residence.CITY.value


class StaffResidenceField(ResidenceField):
    """ResidenceField on staff forms (walk-ins, consultations): the same stored answers, with "declined" offered as
    "Not given", which also covers a blank on a paper sheet."""

    @staticmethod
    def answers():
        return [(value, Participant.AgeBand.NOT_GIVEN.label if value == Participant.Residence.DECLINED else label)
                for value, label in ResidenceField.answers()]


# --- Rendering without a template per input ---------------------------------------------------------------------


def _escape(value) -> str:
    return conditional_escape(str(value))


def _attrs_html(attrs: dict) -> str:
    """django/forms/widgets/attrs.html: ` name="value"`, a bare ` name` for True, nothing for False."""
    return "".join(f" {_escape(name)}" if value is True else f' {_escape(name)}="{_escape(value)}"'
                   for name, value in attrs.items() if value is not False)


def _input_html(widget: dict) -> str:
    """django/forms/widgets/input.html (text, email, tel, hidden, checkbox, and a radio button's input)."""
    value = "" if widget["value"] is None else f' value="{_escape(widget["value"])}"'
    attrs = _attrs_html(widget["attrs"])
    return f'<input type="{_escape(widget["type"])}" name="{_escape(widget["name"])}"{value}{attrs}>'


def _input_option_html(widget: dict) -> str:
    """django/forms/widgets/input_option.html: a radio button or checkbox of a group, optionally inside its label."""
    if not widget.get("wrap_label"):
        return _input_html(widget)
    label_for = f' for="{_escape(widget["attrs"]["id"])}"' if widget["attrs"].get("id") else ""
    return f'<label{label_for}>{_input_html(widget)}\n {_escape(widget["label"])}</label>'


def _textarea_html(widget: dict) -> str:
    """django/forms/widgets/textarea.html."""
    value = _escape(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{_escape(widget["name"])}"{_attrs_html(widget["attrs"])}>\n{value}</textarea>'


def _option_html(option: dict) -> str:
    """django/forms/widgets/select_option.html, as the select includes it (with the file's final newline)."""
    return (f'<option value="{_escape(option["value"])}"{_attrs_html(option["attrs"])}>{_escape(option["label"])}'
            "</option>\n")


def _select_html(widget: dict) -> str:
    """django/forms/widgets/select.html."""
    parts = [f'<select name="{_escape(widget["name"])}"{_attrs_html(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_escape(group_name)}">')
        parts.extend(f"\n  {_option_html(option)}" for option in group_choices)
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


_WIDGETS = "django/forms/widgets/"
_HTML_BUILDERS = {
    **{f"{_WIDGETS}{name}.html": _input_html for name in (
        "input", "text", "email", "tel", "url", "number", "password", "hidden", "checkbox", "search", "date")},
    f"{_WIDGETS}radio_option.html": _input_option_html,
    f"{_WIDGETS}checkbox_option.html": _input_option_html,
    f"{_WIDGETS}input_option.html": _input_option_html,
    f"{_WIDGETS}textarea.html": _textarea_html,
    f"{_WIDGETS}select.html": _select_html,
}


class WidgetHtmlRenderer(DjangoTemplates):
    """A form renderer that writes Django's own widget templates (django/forms/widgets/*.html: inputs, radio buttons,
    check boxes, text areas, selects and their options) out in Python, with the same markup — the attributes Django
    computes (id, required, maxlength, aria-describedby to the help and the error, aria-invalid, autocomplete,
    inputmode…) are the same, only no template is rendered per input and per option, which was most of the form
    page's time. tests/courses/test_flow_queries.py checks the markup is Django's, byte for byte. Any other template
    (a form's or a field's layout) is Django's."""

    def render(self, template_name, context, request=None):
        build = _HTML_BUILDERS.get(template_name)
        if build is None:
            return super().render(template_name, context, request=request)
        return mark_safe(build(context["widget"]).strip())  # noqa: S308 — every value above is escaped


_widget_html_renderer = WidgetHtmlRenderer()


class RegistrationForm(forms.Form):
    """The one short form a resident fills in, for themself or for a parent. Normalises contact fields; leaves
    names as typed (cms.normalize.normalize_name: invisible characters removed, full-width Latin folded). A name in
    the Latin script ("Maria Garcia") needs no kana; a name in Japanese script does."""

    SELF = "self"
    OTHER = "other"

    default_renderer = _widget_html_renderer

    booking_for = forms.ChoiceField(
        label=_("Who is this booking for?"), initial=SELF, widget=forms.RadioSelect, required=False,
        choices=[(SELF, _("For me")), (OTHER, _("For someone else (a parent, a family member, someone I care for)"))])
    name = forms.CharField(label=_("Name"), max_length=100,
                           error_messages={"required": _("Please enter your name.")},
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    # Required unless the name is written in Latin letters (checked in clean()).
    kana = forms.CharField(label=_("Name in katakana"), max_length=100, required=False,
                           help_text=_("For example: カワサキ ハナコ. Not needed if you wrote your name in Latin "
                                       "letters (for example: Maria Garcia)."),
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    phone = forms.CharField(label=_("Phone number"), max_length=30, required=False,
                            help_text=_("Dashes are optional. For example: 090-1234-5678"),
                            widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "type": "tel"}))
    email = forms.CharField(label=_("E-mail address"), max_length=254, required=False,
                            help_text=_("We send the confirmation and the reminder here."),
                            widget=forms.TextInput(attrs={"autocomplete": "email", "inputmode": "email",
                                                          "type": "email"}))
    # Both feed the city's figures: they start empty ("Please choose"), an answer is required, and "prefer not
    # to say" (and, for the ward, "outside the city") is an answer of its own, never a default.
    age_band = forms.ChoiceField(
        label=_("Age"), choices=lambda: [("", _("Please choose")), *[c for c in Participant.AgeBand.choices if c[0]],
                                         (DECLINED, _("Prefer not to say"))],
        error_messages={"required": _("Please choose your age, or “Prefer not to say”.")})
    ward = ResidenceField(
        label=_("Where you live"),
        error_messages={"required": _("Please choose your ward, “Outside the city” or “Prefer not to say”."),
                        "invalid_choice": _("Please choose your ward, “Outside the city” or “Prefer not to say”.")})

    def clean_age_band(self):
        """The stored band; "prefer not to say" is stored as no band."""
        value = self.cleaned_data["age_band"]
        return Participant.AgeBand.NOT_GIVEN.value if value == DECLINED else value

    def clean_ward(self):
        """(ward or None, Participant.Residence)."""
        return self.fields["ward"].split(self.cleaned_data["ward"])

    device = forms.ChoiceField(label=_("Your phone"), required=False,
                               choices=[("", "---------"), *[c for c in Participant.Device.choices if c[0]]])
    accessibility_needs = forms.CharField(
        label=_("Anything we should prepare for you?"), required=False, max_length=500,
        help_text=_("For example: wheelchair, hearing aid, large print."),
        widget=forms.Textarea(attrs={"rows": 2}))
    consent = forms.BooleanField(
        label=_("I agree that my details are used to run this class, as described in the privacy policy."),
        error_messages={"required": _("Please agree to the privacy policy to register.")})

    # お知らせの受け取り方: feeds the channel mix, so it starts empty and an answer is required. Every choice is listed
    # (without script the page cannot narrow them to the contact details given); clean() refuses a choice the
    # contact details do not allow. LINE is offered only when the city's LINE account is set up
    # (courses.line_linking.offered): __init__ drops it otherwise; it takes effect once the resident links LINE.
    notify_by = forms.ChoiceField(
        label=_("How would you like to receive messages about this booking?"), widget=forms.RadioSelect,
        choices=Registration.NotifyBy.choices,
        help_text=_("E-mail needs an e-mail address; SMS needs a mobile number (070, 080 or 090); a phone call "
                    "needs a phone number."),
        error_messages={"required": _("Please choose how you would like to receive messages."),
                        "invalid_choice": _("Please choose how you would like to receive messages.")})
    sms_consent = forms.BooleanField(
        label=_("I agree to receive SMS about this booking at the mobile number given."), required=False,
        help_text=_("Only if you chose SMS. Receiving SMS is free of charge."))
    # For the page's script (cms/static/js/notify-choices.js, via data- attributes in courses/register.html), which
    # narrows the choices as the resident types: the choice each kind of contact detail allows, and what counts as
    # a mobile number. _check_notify_by still decides.
    NOTIFY_NEEDS = {"email": Registration.NotifyBy.EMAIL.value, "mobile": Registration.NotifyBy.SMS.value,
                    "phone": Registration.NotifyBy.CALL.value}
    MOBILE_PATTERN = MOBILE.pattern

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["notify_by"]
        if line_linking.offered():
            field.help_text = _("E-mail needs an e-mail address; SMS needs a mobile number (070, 080 or 090); a "
                                "phone call needs a phone number. For LINE, you link your LINE after booking, with "
                                "a code shown on the confirmation page.")
        else:
            field.choices = [choice for choice in field.choices if choice[0] != Registration.NotifyBy.LINE]

    def clean_name(self):
        name = normalize_name(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError(_("Please enter your name."))
        return name

    def clean_kana(self):
        kana = normalize_kana(self.cleaned_data["kana"])
        if kana and not re.fullmatch(rf"[{_KANA_ALLOWED}]+", kana):
            raise forms.ValidationError(_("Please write your name in katakana or hiragana."))
        return kana

    def _require_kana_for_a_japanese_name(self, cleaned):
        name = cleaned.get("name")
        if name and "kana" not in self.errors and not cleaned.get("kana") and not is_latin_name(name):
            self.add_error("kana", _("Please enter your name in katakana. If your name is written in Latin "
                                     "letters, you can leave this blank."))

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
        self._require_kana_for_a_japanese_name(cleaned)
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
        if not self.errors:
            self._check_notify_by(cleaned)
        return cleaned

    def _check_notify_by(self, cleaned) -> None:
        """The way to be notified must suit the contact details of whoever receives the messages (the person
        attending, or the booker when the person gave none): checked here, whatever the page offered."""
        choice, recipient = cleaned.get("notify_by"), self.recipient()
        NotifyBy = Registration.NotifyBy
        if not choice or recipient is None:
            return
        if choice == NotifyBy.EMAIL and not recipient.email:
            self.add_error("notify_by", _("You chose e-mail, but no e-mail address was given. Please add one, or "
                                          "choose another way."))
        elif choice == NotifyBy.SMS and not is_mobile(recipient.phone):
            self.add_error("notify_by", _("SMS can only be sent to a mobile number starting with 070, 080 or 090. "
                                          "Please give one, or choose another way."))
        elif choice == NotifyBy.SMS and not cleaned.get("sms_consent"):
            self.add_error("sms_consent", _("Please agree to receive SMS, or choose another way."))
        elif choice == NotifyBy.CALL and not recipient.phone:
            self.add_error("notify_by", _("You chose a phone call, but no phone number was given. Please add one, "
                                          "or choose another way."))

    def notify_choice(self) -> tuple[str, bool]:
        """(Registration.NotifyBy value, SMS consent given) for courses.services.register. After is_valid()."""
        data = self.cleaned_data
        return data["notify_by"], data["notify_by"] == Registration.NotifyBy.SMS and bool(data.get("sms_consent"))

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

    def answers(self) -> list[tuple[str, str]]:
        """Each answer in words, as it will be recorded, for the review page: (question, answer). After
        is_valid()."""
        data, fields = self.cleaned_data, self.fields

        def chosen(name):
            return str(dict(fields[name].choices).get(self.data.get(name), "")) or _("Not given")

        ward, residence = data["ward"]
        rows = [
            (fields["booking_for"].label, str(dict(fields["booking_for"].choices)[data["booking_for"] or self.SELF])),
            (fields["name"].label, data["name"]),
            (fields["kana"].label, data["kana"] or _("Not given")),
            (fields["phone"].label, format_phone(data["phone"]) if data["phone"] else _("Not given")),
            (fields["email"].label, data["email"] or _("Not given")),
            (fields["age_band"].label, chosen("age_band")),
            (fields["ward"].label, str(ward) if ward else str(Participant.Residence(residence).label)),
            (fields["device"].label, chosen("device")),
            (fields["accessibility_needs"].label, data["accessibility_needs"] or _("Not given")),
        ]
        if self.for_someone_else:
            rows += [
                (fields["booker_name"].label, data["booker_name"]),
                (fields["booker_relationship"].label, data["booker_relationship"]),
                (fields["booker_phone"].label,
                 format_phone(data["booker_phone"]) if data["booker_phone"] else _("Not given")),
                (fields["booker_email"].label, data["booker_email"] or _("Not given")),
            ]
        rows.append((fields["notify_by"].label, chosen("notify_by")))
        if data["notify_by"] == Registration.NotifyBy.SMS:
            rows.append((_("SMS"), _("Agreed")))
        rows.append((_("Privacy policy"), _("Agreed")))
        return rows

    def recipient(self) -> Recipient | None:
        """Who will hear about this booking once registered, decided as courses.recipients decides it for the
        saved registration (the person attending if they gave a contact, else the booker). After is_valid()."""
        data = self.cleaned_data
        booker = self.booker_details() or BookerDetails()
        unsaved = Registration(participant=Participant(name=data["name"], email=data["email"], phone=data["phone"]),
                               booker_name=booker.name, booker_email=booker.email, booker_phone=booker.phone)
        return recipient_for(unsaved)

    def participant_details(self, language: str) -> ParticipantDetails:
        data = self.cleaned_data
        return ParticipantDetails(
            name=data["name"], kana=data["kana"], email=data["email"], phone=data["phone"],
            age_band=data["age_band"], ward_id=data["ward"][0].pk if data["ward"][0] else None,
            residence=data["ward"][1],
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
