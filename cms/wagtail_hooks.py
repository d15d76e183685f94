from wagtail import hooks
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from cms.admin import two_factor as two_factor_admin
from cms.health import add_background_work_panel
from cms.models import Reading

# Two-factor sign-in: its pages, the account menu's entry and its audit-log actions.
hooks.register("register_admin_urls", two_factor_admin.register_two_factor_urls)
hooks.register("register_account_menu_item", two_factor_admin.register_two_factor_account_item)
hooks.register("register_log_actions", two_factor_admin.register_two_factor_log_actions)

# City administrators: whether the worker and the periodic jobs run, and the outbox's backlog (cms.health).
hooks.register("construct_homepage_panels", add_background_work_panel)


class ReadingViewSet(SnippetViewSet):
    """Readings (ふりがな) staff correct: a word the analyser reads wrongly, e.g. a place or venue name
    (cms.furigana)."""

    model = Reading
    icon = "edit"
    list_display = ["text", "reading", "updated_at"]
    search_fields = ["text", "reading"]
    add_to_admin_menu = False


register_snippet(ReadingViewSet)
