"""Dekiru's roles on Wagtail's users pages: the users list gets a "Role" column (each user's role groups, by their
translated labels: cms.roles.ROLE_LABELS), the edit page says the roles under the user's name, and the role groups'
checkboxes on the user forms carry the same labels (the group names are stable English identifiers).

Wagtail builds its users pages from the `user_viewset` of the wagtailusers app config; cms.user_roles_apps points
it here (INSTALLED_APPS lists "cms.user_roles_apps.DekiruUsersAppConfig" instead of "wagtail.users").

One query for the roles of a whole page of users (a prefetch of the role groups only), whatever its length.
"""

from django.contrib.auth.models import Group
from django.db.models import Prefetch
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy
from wagtail.admin.ui.tables import Column
from wagtail.admin.utils import get_user_display_name
from wagtail.users.forms import UserCreationForm, UserEditForm
from wagtail.users.views import users

from cms import roles

ROLE_GROUPS_ATTR = "dekiru_role_groups"


def role_label(group: Group) -> str:
    """A group as staff know it: a Dekiru role by its translated label, any other group by its name."""
    label = roles.ROLE_LABELS.get(group.name)
    return str(label) if label is not None else group.name


def role_groups(user) -> list[Group]:
    """The user's Dekiru role groups, in cms.roles.ALL_ROLES's order: prefetched by the list, else one query."""
    groups = getattr(user, ROLE_GROUPS_ATTR, None)
    if groups is None:
        groups = list(user.groups.filter(name__in=roles.ALL_ROLES))
    order = {name: n for n, name in enumerate(roles.ALL_ROLES)}
    return sorted(groups, key=lambda group: order[group.name])


def role_labels(user) -> str:
    """The user's roles as a line of text ("" without one)."""
    return ", ".join(role_label(group) for group in role_groups(user))


class RoleColumn(Column):
    """Each user's Dekiru roles; "-" for a user with none (a superuser's access shows in "Access level")."""

    def get_value(self, instance):
        return role_labels(instance) or "-"


class UserIndexView(users.IndexView):
    @cached_property
    def columns(self):
        columns = list(super().columns)
        at = next((n for n, column in enumerate(columns) if column.name == "is_superuser"), len(columns))
        columns.insert(at, RoleColumn("dekiru_roles", label=gettext_lazy("Role"), classname="dekiru-roles",
                                      width="20%"))
        return columns

    def get_base_queryset(self):
        return super().get_base_queryset().prefetch_related(Prefetch(
            "groups", queryset=Group.objects.filter(name__in=roles.ALL_ROLES), to_attr=ROLE_GROUPS_ATTR))


class RoleLabelsMixin:
    """The groups' checkboxes by the roles' translated labels, with a word on what a role is."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        groups = self.fields.get("groups")
        if groups is not None:
            groups.label_from_instance = role_label
            groups.help_text = gettext_lazy(
                "The role decides what the user can see and do in the admin. Partner staff also need to be a member "
                "of their partner organisation.")


class RoleUserCreationForm(RoleLabelsMixin, UserCreationForm):
    pass


class RoleUserEditForm(RoleLabelsMixin, UserEditForm):
    pass


class UserEditView(users.EditView):
    def get_page_subtitle(self):
        """The user's name, and their roles (the edit page shows them otherwise only on its "Roles" tab)."""
        name = get_user_display_name(self.object)
        labels = role_labels(self.object)
        return f"{name} ({labels})" if labels else name


class UserViewSet(users.UserViewSet):
    index_view_class = UserIndexView
    edit_view_class = UserEditView

    def get_form_class(self, for_update=False):
        return RoleUserEditForm if for_update else RoleUserCreationForm
