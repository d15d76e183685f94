from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach")

    def ready(self):
        # The self-assessment link in the "thank you for coming" e-mail (courses.emails.add_context_hook): registered
        # here, not in wagtail_hooks, because the outbox worker renders e-mails without loading the admin's hooks.
        from outreach.assessment_tokens import register_email_hooks

        register_email_hooks()
