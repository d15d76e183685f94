from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = _("Partners and venues")

    def ready(self):
        # Before any admin code asks the registry for Venue's policy (Wagtail refuses a late registration).
        from wagtail.permissions import register_permission_policy

        # In ready(): an app's models can be imported only once Django's app registry is ready.
        from partners.models import Venue
        from partners.permissions import venue_policy

        register_permission_policy(Venue, venue_policy())
