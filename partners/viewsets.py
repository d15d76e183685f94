"""Admin for city staff: partners, venues and wards (the partner workspace issue adds scoping)."""

from django.utils.translation import gettext_lazy as _
from wagtail.snippets.views.snippets import CreateView, EditView, SnippetViewSet, SnippetViewSetGroup

from partners.models import Partner, Venue, Ward
from partners.services import sync_partner_page_access


class PartnerCreateView(CreateView):
    def save_instance(self):
        partner = super().save_instance()
        sync_partner_page_access(partner)  # same rule as partners.services.create_partner
        return partner


class PartnerEditView(EditView):
    def save_instance(self):
        partner = super().save_instance()
        sync_partner_page_access(partner)  # a deactivated partner's staff lose their page permissions
        return partner


class PartnerViewSet(SnippetViewSet):
    model = Partner
    icon = "group"
    add_view_class = PartnerCreateView
    edit_view_class = PartnerEditView
    list_display = ["name", "kind", "contact_name", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "name_en"]


class VenueViewSet(SnippetViewSet):
    model = Venue
    icon = "home"
    list_display = ["name", "ward", "partner", "capacity"]
    list_filter = ["ward", "step_free"]
    search_fields = ["name", "address"]


class WardViewSet(SnippetViewSet):
    model = Ward
    icon = "site"
    list_display = ["name", "name_en", "code"]


class PartnersGroup(SnippetViewSetGroup):
    menu_label = _("Partners")
    menu_icon = "group"
    menu_order = 300
    items = (PartnerViewSet, VenueViewSet, WardViewSet)
