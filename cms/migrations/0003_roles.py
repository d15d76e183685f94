"""The staff roles of cms/roles.py as Django groups, with their model, page and collection permissions.

Idempotent: running `create_roles` again adds what is missing and removes nothing, so it is safe on a database where
an administrator has since widened a role. The role names are copied here (not imported from cms.roles) so that
this migration keeps doing what it did when it was written.

Page permissions on the course index are granted only where the index already exists (an existing deployment).
On a fresh database the index is created later by `cms.services.ensure_site`, which must grant them then.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CITY_ADMINISTRATOR = "City administrator"
CITY_PROGRAMME_OFFICER = "City programme officer"
CITY_ANALYST = "City analyst"
CALL_CENTRE_OPERATOR = "Call-centre operator"
PARTNER_MANAGER = "Partner manager"
PARTNER_INSTRUCTOR = "Partner instructor"

ADMIN_ACCESS = "wagtailadmin.access_admin"
DATA_APPS = ("courses", "partners", "outreach")
ALL = "__all__"

# Model permissions per role: "app_label.codename", or (app_labels, actions) for every model of those apps.
MODEL_PERMISSIONS = {
    CITY_ADMINISTRATOR: [ALL],
    CITY_PROGRAMME_OFFICER: [ADMIN_ACCESS, (DATA_APPS, ("add", "change", "delete", "view"))],
    CITY_ANALYST: [ADMIN_ACCESS, (DATA_APPS, ("view",))],
    CALL_CENTRE_OPERATOR: [
        ADMIN_ACCESS, "courses.view_session",
        "courses.view_participant", "courses.add_participant", "courses.change_participant",
        "courses.view_registration", "courses.add_registration", "courses.change_registration",
    ],
    PARTNER_MANAGER: [
        ADMIN_ACCESS, "courses.view_session", "courses.add_session", "courses.change_session",
        "courses.view_registration", "courses.change_registration", "courses.view_participant",
        "partners.view_venue", "partners.add_venue", "partners.change_venue",
    ],
    PARTNER_INSTRUCTOR: [
        ADMIN_ACCESS, "courses.view_session", "courses.view_registration", "courses.view_participant",
        "courses.change_registration",
    ],
}

ROOT_PAGE = "root"
COURSE_INDEX = "course_index"
# Wagtail page permissions (wagtailcore.<action>_page) per role, on one page and its descendants.
PAGE_PERMISSIONS = {
    CITY_ADMINISTRATOR: (ROOT_PAGE, ("add", "change", "publish", "bulk_delete", "lock", "unlock")),
    CITY_PROGRAMME_OFFICER: (COURSE_INDEX, ("add", "change", "publish")),
}


def ensure_permissions(apps, using="default"):
    """Create the Permission rows now: Django only creates them in post_migrate, after every migration ran."""
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions takes for "no models".
        no_models_module = getattr(app_config, "models_module", None) is None
        if no_models_module:
            app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, interactive=False, using=using, apps=apps)
        finally:
            if no_models_module:
                app_config.models_module = None


def _model_permissions(apps, specs):
    Permission = apps.get_model("auth", "Permission")
    found = Permission.objects.none()
    for spec in specs:
        if spec == ALL:
            found = found | Permission.objects.all()
        elif isinstance(spec, str):
            app_label, codename = spec.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            if not permission.exists():
                raise LookupError(f"Permission {spec} does not exist")
            found = found | permission
        else:
            app_labels, actions = spec
            for app_label in app_labels:
                for model in apps.get_app_config(app_label).get_models():
                    codenames = [f"{action}_{model._meta.model_name}" for action in actions]
                    found = found | Permission.objects.filter(content_type__app_label=app_label,
                                                              content_type__model=model._meta.model_name,
                                                              codename__in=codenames)
    return found


def _grant_pages(apps, group, page, actions):
    Permission = apps.get_model("auth", "Permission")
    GroupPagePermission = apps.get_model("wagtailcore", "GroupPagePermission")
    for action in actions:
        permission = Permission.objects.get(content_type__app_label="wagtailcore", content_type__model="page",
                                            codename=f"{action}_page")
        GroupPagePermission.objects.get_or_create(group=group, page_id=page.pk, permission=permission)


def _grant_root_collection(apps, group):
    """Images and documents are permitted per collection: the administrator gets all of them on the root."""
    Collection = apps.get_model("wagtailcore", "Collection")
    GroupCollectionPermission = apps.get_model("wagtailcore", "GroupCollectionPermission")
    Permission = apps.get_model("auth", "Permission")
    root = Collection.objects.filter(depth=1).first()
    if root is None:
        return
    for permission in Permission.objects.filter(content_type__app_label__in=["wagtailimages", "wagtaildocs"],
                                                content_type__model__in=["image", "document"]):
        GroupCollectionPermission.objects.get_or_create(group=group, collection=root, permission=permission)


def create_roles(apps, schema_editor=None):
    """Create (or complete) the role groups. Takes an app registry, so tests can run it on the live one."""
    using = schema_editor.connection.alias if schema_editor else "default"
    ensure_permissions(apps, using=using)
    Group = apps.get_model("auth", "Group")
    Page = apps.get_model("wagtailcore", "Page")
    CourseIndexPage = apps.get_model("courses", "CourseIndexPage")
    pages = {ROOT_PAGE: Page.objects.filter(depth=1).order_by("path").first(),
             COURSE_INDEX: CourseIndexPage.objects.order_by("pk").first()}
    for name, specs in MODEL_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_model_permissions(apps, specs))
        if name in PAGE_PERMISSIONS:
            where, actions = PAGE_PERMISSIONS[name]
            if pages[where] is not None:
                _grant_pages(apps, group, pages[where], actions)
        if name == CITY_ADMINISTRATOR:
            _grant_root_collection(apps, group)


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(MODEL_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    # Every app whose permissions a role holds (the administrator holds all) is migrated first.
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sessions", "0001_initial"),
        ("cms", "0002_pages_and_settings"),
        ("courses", "0001_initial"),
        ("partners", "0001_initial"),
        ("outreach", "0002_load_skill_items"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
        ("wagtailadmin", "0006_formstate"),
        ("wagtailcore", "0098_apitoken"),
        ("wagtaildocs", "0014_alter_document_file_size"),
        ("wagtailembeds", "0009_embed_cache_until"),
        ("wagtailimages", "0027_image_description"),
        ("wagtailredirects", "0008_add_verbose_name_plural"),
        ("wagtailsearch", "0010_add_text_fields"),
        ("wagtailusers", "0015_userprofile_keyboard_shortcuts"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
