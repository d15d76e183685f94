"""Bilingual content: Japanese fields are required, `<field>_en` twins are optional.

English visitors see the English text where there is one and the Japanese text otherwise.
"""

from django.utils.translation import get_language


def localized(obj, field: str, language: str | None = None):
    language = (language or get_language() or "ja").split("-")[0]
    if language == "en":
        english = getattr(obj, f"{field}_en", None)
        if english:
            return english
    return getattr(obj, field)
