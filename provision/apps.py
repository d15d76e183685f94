from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisionConfig(AppConfig):
    """The roof: site set-up, demo data, load-test and benchmark data. It may import every app; nothing imports it."""

    name = "provision"
    verbose_name = _("Set-up and demo data")
