from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoursesConfig(AppConfig):
    name = "courses"
    verbose_name = _("Courses and registrations")

    def ready(self):
        # Registered here, before any admin code can ask the registry for Session's policy: Wagtail refuses a
        # registration once it has handed out its fallback (model-permissions-only) policy for the model.
        from wagtail.permissions import register_permission_policy

        # In ready(): an app's models can be imported only once Django's app registry is ready.
        from courses.models import Session
        from courses.permissions import session_permission_policy

        register_permission_policy(Session, session_permission_policy)
