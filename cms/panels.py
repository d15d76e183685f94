"""Admin panels shared by the apps."""

from wagtail.admin.panels import FieldPanel

from cms import easy_japanese


class EasyJapanesePanel(FieldPanel):
    """A text field for a やさしい日本語 version, with the plain-Japanese check of its text shown beside it as guidance
    (cms.easy_japanese): what the check finds never stops a save. Checked as the form shows the text (after a save
    or a failed save, what was typed)."""

    class BoundPanel(FieldPanel.BoundPanel):
        template_name = "cms/admin/easy_japanese_panel.html"

        def get_context_data(self, parent_context=None):
            context = super().get_context_data(parent_context)
            value = self.bound_field.value() if not self.read_only else self.value_from_instance
            context["easy_japanese_findings"] = easy_japanese.check(value or "")
            context["easy_japanese_checked"] = bool((value or "").strip())
            return context
