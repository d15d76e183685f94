from wagtail import hooks

from cms import two_factor_admin  # noqa: F401  (two-factor sign-in pages: registers its own hooks)
from cms.health import add_background_work_panel

# City administrators: whether the worker and the periodic jobs run, and the outbox's backlog (cms.health).
hooks.register("construct_homepage_panels", add_background_work_panel)
