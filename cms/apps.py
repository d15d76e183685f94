from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = _("Site")

    def ready(self):
        # The mail worker's heartbeat is recorded from django-tasks' task_finished signal (cms.heartbeats): connect
        # it in every process, the worker included, which loads the apps but neither the URLs nor the admin hooks.
        from cms import heartbeats  # noqa: F401
