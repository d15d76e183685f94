"""`{% form_field %}` (cms/templatetags/form_fields.py) writes the layout of templates/includes/field.html in Python:
for every field of every public form that uses it, empty, with errors and filled in, in Japanese and English, the
tag's HTML is the template's (whitespace between tags aside, which no browser shows)."""

import re

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from cms.templatetags.form_fields import field_html
from courses.forms import RegistrationForm, SessionFilterForm
from partners.invitation_views import AcceptForm
from tests.courses.test_registration_review import form_data


def normalised(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


FORMS = [
    ("registration, empty", lambda: RegistrationForm()),
    ("registration, every answer missing", lambda: RegistrationForm({})),
    ("registration, filled in", lambda: RegistrationForm(form_data())),
    ("registration, wrong and odd answers", lambda: RegistrationForm(form_data(
        name="<b>\"川崎\" & 'はなこ'</b>", accessibility_needs="<script>alert(1)</script>\n車いす",
        email="not an address", ward="999999", notify_by="sms", booking_for="other"))),
    ("listing filters, empty", lambda: SessionFilterForm()),
    ("listing filters, junk", lambda: SessionFilterForm({"q": "x" * 200, "ward": "zzz", "date_from": "2026-13-45",
                                                          "free": "on", "level": "nope"})),
    ("invitation, empty", lambda: AcceptForm()),
    ("invitation, errors", lambda: AcceptForm({"username": "a b", "password": "x", "password2": "y"})),
]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("name, make", FORMS, ids=[name for name, _ in FORMS])
def test_the_tag_writes_the_templates_html(site, language, name, make):
    with translation.override(language):
        form = make()
        form.is_bound and form.is_valid()
        for field in form:
            expected = render_to_string("includes/field.html", {"field": field})
            assert normalised(field_html(field)) == normalised(expected), field.name


@pytest.mark.django_db
def test_the_tag_escapes_what_a_label_or_an_error_carries(site):
    form = RegistrationForm(form_data(email="<script>x</script>"))
    form.fields["name"].label = "<i>名前</i>"
    form.is_valid()
    html = str(field_html(form["name"])) + str(field_html(form["email"]))
    assert "<i>" not in html and "&lt;i&gt;名前&lt;/i&gt;" in html
    assert "<script>" not in html
