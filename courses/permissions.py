"""Permission policies of the courses app, registered with Wagtail (courses.apps.CoursesConfig.ready).

Wagtail's generic admin views and menus ask the policy registered for a model; these policies add the partner
scoping of partners.permissions to Django's model permissions, so that asking "may this user change this
session?" gives the same answer everywhere.
"""

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from wagtail.permission_policies import ModelPermissionPolicy

from courses.models import Registration
from partners import permissions as partner_permissions
from partners.permissions import CITY_ROLES


class SessionPermissionPolicy(ModelPermissionPolicy):
    """Sessions: Django's model permissions (courses.view/add/change/delete_session), limited to the sessions
    the user's partners organise. City staff (partners.permissions.is_city_staff) are not limited.

    Instance-level rules on top of the model permission:
    - another partner's session: no action at all, not even "view";
    - "delete": only a session nobody ever registered for (registrations are history and are PROTECTed); the
      admin offers cancellation instead.
    """

    def __init__(self, model="courses.Session"):
        super().__init__(model)

    @staticmethod
    def partner_ids(user):
        """partners.permissions.partner_ids, remembered on the user object for the rest of the request."""
        if not hasattr(user, "_dekiru_session_partner_ids"):
            user._dekiru_session_partner_ids = partner_permissions.partner_ids(user)
        return user._dekiru_session_partner_ids

    def _in_scope(self, user, instance) -> bool:
        ids = self.partner_ids(user)
        return ids is None or instance.organiser_id in ids

    def user_has_permission_for_instance(self, user, action, instance) -> bool:
        if not (self.user_has_permission(user, action) and self._in_scope(user, instance)):
            return False
        if action == "delete":
            return not instance.registrations.exists()
        return True

    def user_has_any_permission_for_instance(self, user, actions, instance) -> bool:
        return any(self.user_has_permission_for_instance(user, action, instance) for action in actions)

    def instances_user_has_any_permission_for(self, user, actions):
        """The sessions on which the user may do any of `actions`: none without the model permission, every
        session for city staff, their own partners' sessions for partner staff."""
        actions = list(actions)
        if not self.user_has_any_permission(user, actions):
            return self.model._default_manager.none()
        sessions = self.model._default_manager.all()
        ids = self.partner_ids(user)
        if ids is not None:
            sessions = sessions.filter(organiser_id__in=ids)
        if actions == ["delete"]:
            sessions = sessions.exclude(Exists(Registration.objects.filter(session=OuterRef("pk"))))
        return sessions

    def users_with_any_permission_for_instance(self, actions, instance):
        """Users with the model permission who are city staff or members of the session's organiser."""
        users = self.users_with_any_permission(actions)
        in_scope = (Q(is_superuser=True) | Q(groups__name__in=CITY_ROLES)
                    | Q(partner_memberships__partner_id=instance.organiser_id,
                        partner_memberships__partner__is_active=True))
        return get_user_model().objects.filter(pk__in=users.values("pk")).filter(in_scope).distinct()


session_permission_policy = SessionPermissionPolicy()
