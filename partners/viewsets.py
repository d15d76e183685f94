"""Admin for city staff: partners, venues and wards (the partner workspace issue adds scoping)."""

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from wagtail.snippets.views import snippets as snippet_views
from wagtail.snippets.views.snippets import CreateView, EditView, SnippetViewSet, SnippetViewSetGroup

from partners.models import Partner, Venue, Ward
from partners.permissions import partner_ids, venue_policy
from partners.services import partner_changed


class PartnerCreateView(CreateView):
    def save_instance(self):
        partner = super().save_instance()
        partner_changed(partner)  # same as partners.services.create_partner
        return partner


class PartnerEditView(EditView):
    def save_instance(self):
        partner = super().save_instance()
        partner_changed(partner)  # a deactivated partner's staff lose their page permissions
        return partner


class PartnerViewSet(SnippetViewSet):
    model = Partner
    icon = "group"
    add_view_class = PartnerCreateView
    edit_view_class = PartnerEditView
    list_display = ["name", "kind", "contact_name", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "name_en"]


# --- Venues, scoped by partner (partners.permissions.venue_policy) -------------------------------------------------


class VenueIndexView(snippet_views.IndexView):
    def get_base_queryset(self):
        return venue_policy().instances_user_has_any_permission_for(self.request.user, ["view", "change"]) \
            .select_related("ward", "partner")


class VenueObjectMixin:
    """Load the venue, then refuse (404) one of another partner: Wagtail's generic views load any row by id."""

    venue_action = "change"

    def get_object(self, *args, **kwargs):
        venue = super().get_object(*args, **kwargs)
        if not venue_policy().user_has_permission_for_instance(self.request.user, self.venue_action, venue):
            raise Http404
        return venue


class VenueFormMixin:
    """Partner staff create and edit venues of their own partners only (never the city's)."""

    def get_form(self, *args, **kwargs):
        form = super().get_form(*args, **kwargs)
        ids = partner_ids(self.request.user)
        if ids is not None and "partner" in form.fields:
            form.fields["partner"].queryset = Partner.objects.filter(pk__in=ids)
            form.fields["partner"].required = True
            form.fields["partner"].empty_label = None
        return form


class VenueCreateView(VenueFormMixin, snippet_views.CreateView):
    pass


class VenueEditView(VenueFormMixin, VenueObjectMixin, snippet_views.EditView):
    pass


class VenueDeleteView(VenueObjectMixin, snippet_views.DeleteView):
    venue_action = "delete"


class VenueInspectView(VenueObjectMixin, snippet_views.InspectView):
    venue_action = "view"


class VenueHistoryView(snippet_views.HistoryView):
    def get_base_object_queryset(self):
        return venue_policy().instances_user_has_any_permission_for(self.request.user, ["change"])


class VenueUsageView(VenueObjectMixin, snippet_views.UsageView):
    venue_action = "view"


class VenueViewSet(SnippetViewSet):
    model = Venue
    index_view_class = VenueIndexView
    add_view_class = VenueCreateView
    edit_view_class = VenueEditView
    delete_view_class = VenueDeleteView
    inspect_view_class = VenueInspectView
    history_view_class = VenueHistoryView
    usage_view_class = VenueUsageView
    copy_view_enabled = False
    # Search in the database with the ORM: the search backend cannot combine its index with the partner scope.
    search_backend_name = None
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
