"""The public footer's links, from the `footer_links` hook (cms.models.footer_links): the ground floor names no
page of a higher app (e.g. outreach's open data)."""

from django import template

from cms import models

register = template.Library()


@register.simple_tag(takes_context=True)
def footer_links(context) -> list[models.FooterLink]:
    return models.footer_links(context.get("request"))
