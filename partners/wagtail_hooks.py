from wagtail.snippets.models import register_snippet

from partners.viewsets import PartnersGroup

register_snippet(PartnersGroup)
