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
        self.connect_page_frame()
        # Every process watches its database writes for the page cache (cms.page_cache), workers and commands too.
        from cms import page_cache

        page_cache.connect()

    def connect_page_frame(self):
        """Every change the public pages' frame shows (cms.page_frame) makes every process reload it: the Site and
        both settings models saved or deleted, a page's URL changed (slug, move), a page deleted (the privacy page
        is unset in SQL); migrations (the flush between transactional tests among them) drop this process's memo."""
        from django.db.models.signals import post_delete, post_migrate, post_save
        from wagtail.models import Page, Site
        from wagtail.signals import page_slug_changed, post_page_move

        # The models and the frame's handlers: importable only once the apps are ready (this runs from ready()).
        from cms.models import MunicipalitySettings, SiteSettings
        from cms.page_frame import forget, frame_changed

        for model in (Site, SiteSettings, MunicipalitySettings):
            post_save.connect(frame_changed, sender=model)
            post_delete.connect(frame_changed, sender=model)
        post_delete.connect(frame_changed, sender=Page)
        page_slug_changed.connect(frame_changed)
        post_page_move.connect(frame_changed)
        post_migrate.connect(forget, sender=self)
