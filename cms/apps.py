from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = _("Site")

    def ready(self):
        # The mail worker's heartbeat is recorded from django-tasks' task_finished signal (cms.heartbeats): connect
        # it in every process, the worker included, which loads the apps but neither the URLs nor the admin hooks.
        # Two-factor sign-in: its policy is remembered at sign-in (a signal), and --deploy checks it is enforced.
        from django.core import checks

        # In ready(): they import models, which Django loads only once the app registry is ready.
        from cms import heartbeats, two_factor  # noqa: F401

        checks.register(two_factor.check_city_administrators_need_two_factor, checks.Tags.security, deploy=True)
