"""The staff roles (cms/roles.py) as groups created by the cms 0003_roles migration: model, page and collection
permissions per role, and what each role can then do in the Wagtail admin."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from wagtail.documents import get_document_model
from wagtail.images import get_image_model
from wagtail.models import Collection, GroupPagePermission, Page
from wagtail.permissions import policy_registry

from cms import roles
from courses.models import CourseIndexPage

pytestmark = pytest.mark.django_db
roles_migration = importlib.import_module("cms.migrations.0003_roles")

DATA_APPS = ("courses", "partners", "outreach")
# Entering can-do self-assessments (at a class, or from paper at a ward office).
SELF_ASSESSMENT = {"outreach.view_selfassessment", "outreach.add_selfassessment", "outreach.change_selfassessment",
                   "outreach.view_skillscore", "outreach.add_skillscore", "outreach.change_skillscore",
                   "outreach.view_skillitem"}


def codenames(role: str) -> set[str]:
    return {f"{app}.{codename}" for app, codename in
            Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")}


def data_model_permissions(*actions) -> set[str]:
    return {f"{model._meta.app_label}.{action}_{model._meta.model_name}"
            for app in DATA_APPS for model in apps.get_app_config(app).get_models() for action in actions}


def user_in(role: str):
    user = get_user_model().objects.create_user(username=f"u-{role}", password="x")
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no permission cache


def test_every_role_is_a_group():
    assert set(Group.objects.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True)) == set(roles.ALL_ROLES)


def test_the_city_administrator_holds_every_permission():
    missing = Permission.objects.exclude(group__name=roles.CITY_ADMINISTRATOR)
    assert not missing.exists(), f"not granted to the administrator (add them in a migration): {list(missing)}"


def test_the_programme_officer_manages_all_course_partner_and_outreach_data():
    assert codenames(roles.CITY_PROGRAMME_OFFICER) == {
        "wagtailadmin.access_admin", *data_model_permissions("add", "change", "delete", "view"),
        "outreach.view_dashboard",
        # the readings (ふりがな) staff correct (cms.furigana)
        "cms.add_reading", "cms.change_reading", "cms.delete_reading", "cms.view_reading"}


def test_the_analyst_only_views():
    assert codenames(roles.CITY_ANALYST) == {"wagtailadmin.access_admin", *data_model_permissions("view"),
                                             "outreach.view_dashboard"}


def test_the_call_centre_operator_handles_bookings_and_consultations():
    assert codenames(roles.CALL_CENTRE_OPERATOR) == {
        "wagtailadmin.access_admin", "courses.view_session",
        "courses.view_participant", "courses.add_participant", "courses.change_participant",
        "courses.view_registration", "courses.add_registration", "courses.change_registration",
        "courses.view_outgoingmessage", "courses.change_outgoingmessage",
        "outreach.view_consultation", "outreach.add_consultation", "outreach.change_consultation",
        "outreach.view_consultationtopic", *SELF_ASSESSMENT}


def test_the_partner_manager_runs_sessions_and_venues():
    assert codenames(roles.PARTNER_MANAGER) == {
        "wagtailadmin.access_admin", "courses.view_session", "courses.add_session", "courses.change_session",
        "courses.view_sessionseries", "courses.add_sessionseries", "courses.change_sessionseries",
        "courses.view_registration", "courses.change_registration", "courses.view_participant",
        "partners.view_venue", "partners.add_venue", "partners.change_venue",
        "courses.view_outgoingmessage", "courses.change_outgoingmessage",
        "courses.view_sessionstaff", "courses.add_sessionstaff", "courses.change_sessionstaff",
        "courses.delete_sessionstaff", "outreach.view_dashboard", *SELF_ASSESSMENT}


def test_the_partner_instructor_sees_rosters_and_marks_attendance():
    assert codenames(roles.PARTNER_INSTRUCTOR) == {
        "wagtailadmin.access_admin", "courses.view_session", "courses.view_registration",
        "courses.view_participant", "courses.change_registration",
        "courses.view_outgoingmessage", "courses.change_outgoingmessage", *SELF_ASSESSMENT}


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_every_role_can_open_the_admin(client, site, role):
    client.force_login(user_in(role))
    assert client.get(reverse("wagtailadmin_home")).status_code == 200


def test_a_user_without_a_role_cannot_open_the_admin(client, site):
    client.force_login(get_user_model().objects.create_user(username="nobody", password="x"))
    response = client.get(reverse("wagtailadmin_home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("wagtailadmin_login"))


def test_the_administrator_manages_every_page_and_the_media_library(site):
    administrator = user_in(roles.CITY_ADMINISTRATOR)
    home = site.root_page
    permissions = home.permissions_for_user(administrator)
    assert permissions.can_edit() and permissions.can_publish() and permissions.can_add_subpage()
    assert Page.get_first_root_node().permissions_for_user(administrator).can_add_subpage()
    analyst = user_in(roles.CITY_ANALYST)
    for model in (get_image_model(), get_document_model()):
        policy = policy_registry.get_by_type(model)
        assert policy.user_has_permission(administrator, "add") and policy.user_has_permission(administrator, "change")
        assert Collection.get_first_root_node() in policy.collections_user_has_permission_for(administrator, "change")
        assert not policy.user_has_permission(analyst, "add")


def test_page_permissions_on_the_course_index_are_granted_once_it_exists(site):
    """A fresh database has no course index when migrations run (ensure_site creates it), so the role
    function grants them when run again; on an existing deployment the migration itself grants them."""
    index = CourseIndexPage.objects.get()
    officer, manager = user_in(roles.CITY_PROGRAMME_OFFICER), user_in(roles.PARTNER_MANAGER)
    roles_migration.create_roles(apps)

    officer = get_user_model().objects.get(pk=officer.pk)
    assert index.permissions_for_user(officer).can_add_subpage()
    assert index.permissions_for_user(officer).can_edit()
    assert index.permissions_for_user(officer).can_publish()
    assert not site.root_page.permissions_for_user(officer).can_edit()  # the home page is not theirs
    # Partner staff get page permissions per partner (tests/partners/test_course_page_access.py), none on the index.
    manager = get_user_model().objects.get(pk=manager.pk)
    assert not index.permissions_for_user(manager).can_add_subpage()
    assert not index.permissions_for_user(manager).can_edit()


def test_the_role_function_is_idempotent_and_restores_missing_permissions(site):
    roles_migration.create_roles(apps)
    counts = {role: Group.objects.get(name=role).permissions.count() for role in roles.ALL_ROLES}
    page_permissions = GroupPagePermission.objects.count()

    # A permission row Django would only recreate in post_migrate is created by the role function itself.
    Permission.objects.get(content_type__app_label="courses", codename="view_session").delete()
    roles_migration.create_roles(apps)

    assert {role: Group.objects.get(name=role).permissions.count() for role in roles.ALL_ROLES} == counts
    assert GroupPagePermission.objects.count() == page_permissions
    assert "courses.view_session" in codenames(roles.CALL_CENTRE_OPERATOR)


@pytest.mark.django_db
def test_a_fresh_site_gives_officers_their_course_page_permissions(site):
    """On a fresh database the course index is created after the roles migration: ensure_site grants them."""
    from wagtail.models import GroupPagePermission

    from courses.models import CourseIndexPage

    index = CourseIndexPage.objects.get()
    granted = {(p.group.name, p.permission.codename)
               for p in GroupPagePermission.objects.filter(page=index).select_related("group", "permission")}
    assert granted >= {("City programme officer", "add_page"), ("City programme officer", "change_page"),
                       ("City programme officer", "publish_page")}
    assert not any(group == "Partner manager" for group, _codename in granted)
