"""`{% form_field field %}`: one form field laid out as every public form lays it out -- label, help, error, then the
input -- written in Python.

The layout is templates/includes/field.html, which stays as its reference: the error sits above the input, where a
magnified screen shows it; Django links the input to the help and the error (aria-describedby="<id>_helptext
<id>_error") and marks it aria-invalid; a group of radio buttons or check boxes is a fieldset whose legend is the
question. Rendering that template once per field was most of the registration form's time (16 fields, about 10 of
the page's 17 ms of CPU, issue 18); tests/cms/test_form_field_tag.py holds the tag's HTML to the template's in every
state of every field of the public forms.
"""

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


def _required(field) -> str:
    return f' <span class="required">{conditional_escape(gettext("(required)"))}</span>' if field.field.required \
        else ""


def _help(field) -> str:
    if not field.help_text:
        return ""
    return format_html('<p class="help" id="{}_helptext">{}</p>', field.auto_id, field.help_text)


def _errors(field) -> str:
    if not field.errors:
        return ""
    text = "".join(f"{conditional_escape(error)} " for error in field.errors)
    return format_html('<p class="error-text" id="{}_error">{}</p>', field.auto_id, mark_safe(text))  # noqa: S308


def field_html(field) -> SafeString:
    """The HTML of templates/includes/field.html for this bound field."""
    error_class = " field-error" if field.errors else ""
    label = conditional_escape(field.label)
    if field.use_fieldset:
        described = ""
        if field.help_text or field.errors:
            ids = [f"{field.auto_id}_helptext"] if field.help_text else []
            ids += [f"{field.auto_id}_error"] if field.errors else []
            described = f' aria-describedby="{conditional_escape(" ".join(ids))}"'
        choices = "".join(
            f'<div class="choice">{choice.tag()}<label for="{conditional_escape(choice.id_for_label)}">'
            f"{conditional_escape(choice.choice_label)}</label></div>\n"
            for choice in field)
        html = (f'<fieldset class="field choice-group{error_class}"{described}>\n'
                f"<legend>{label}{_required(field)}</legend>\n{_help(field)}\n{_errors(field)}\n{choices}"
                "</fieldset>\n")
    elif getattr(field.field.widget, "input_type", None) == "checkbox":
        html = (f'<div class="field field-checkbox{error_class}">\n{_errors(field)}\n<div class="choice">\n{field}\n'
                f'<label for="{conditional_escape(field.id_for_label)}">{label}{_required(field)}</label>\n</div>\n'
                f"{_help(field)}\n</div>\n")
    else:
        html = (f'<div class="field{error_class}">\n'
                f'<label for="{conditional_escape(field.id_for_label)}">{label}{_required(field)}</label>\n'
                f"{_help(field)}\n{_errors(field)}\n{field}\n</div>\n")
    return mark_safe(html)  # noqa: S308 — every value above is escaped


@register.simple_tag
def form_field(field) -> SafeString:
    return field_html(field)
