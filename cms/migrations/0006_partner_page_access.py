"""Course pages per partner: partner staff lose the page permissions on the whole course index, and get add and
change on their own partner's course group through one group per partner (partners.services.
sync_partner_page_access keeps it in step from now on). Course pages then go live through the city's approval
workflow (cms.services.ensure_course_workflow, which ensure_site also runs on a new site).
"""

from django.db import migrations

PARTNER_MANAGER = "Partner manager"
PARTNER_ACTIONS = ("add", "change")
COURSE_WORKFLOW = "City approval of course pages"
COURSE_APPROVERS = ("City programme officer", "City administrator")


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    GroupPagePermission = apps.get_model("wagtailcore", "GroupPagePermission")
    CourseIndexPage = apps.get_model("courses", "CourseIndexPage")
    CourseGroupPage = apps.get_model("courses", "CourseGroupPage")
    PartnerMembership = apps.get_model("partners", "PartnerMembership")
    User = apps.get_model("cms", "User")

    index = CourseIndexPage.objects.order_by("pk").first()
    GroupPagePermission.objects.filter(group__name=PARTNER_MANAGER).delete()
    for course_group in CourseGroupPage.objects.filter(partner__isnull=False).select_related("partner"):
        group, _created = Group.objects.get_or_create(name=f"Partner {course_group.partner_id}: course editors")
        for action in PARTNER_ACTIONS:
            permission = Permission.objects.get(content_type__app_label="wagtailcore", codename=f"{action}_page")
            GroupPagePermission.objects.get_or_create(group=group, page_id=course_group.pk, permission=permission)
        if course_group.partner.is_active:
            users = PartnerMembership.objects.filter(partner_id=course_group.partner_id).values_list("user", flat=True)
            group.user_set.set(User.objects.filter(pk__in=users))
    if index is not None:
        _workflow(apps, index)


def _workflow(apps, index):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Workflow = apps.get_model("wagtailcore", "Workflow")
    GroupApprovalTask = apps.get_model("wagtailcore", "GroupApprovalTask")
    WorkflowTask = apps.get_model("wagtailcore", "WorkflowTask")
    WorkflowPage = apps.get_model("wagtailcore", "WorkflowPage")
    workflow, _created = Workflow.objects.get_or_create(name=COURSE_WORKFLOW, defaults={"active": True})
    task = GroupApprovalTask.objects.filter(name=COURSE_WORKFLOW).first()
    if task is None:
        content_type, _ = ContentType.objects.get_or_create(app_label="wagtailcore", model="groupapprovaltask")
        task = GroupApprovalTask.objects.create(name=COURSE_WORKFLOW, content_type=content_type, active=True)
    task.groups.add(*Group.objects.filter(name__in=COURSE_APPROVERS))
    WorkflowTask.objects.get_or_create(workflow=workflow, task=task, defaults={"sort_order": 0})
    WorkflowPage.objects.update_or_create(page_id=index.pk, defaults={"workflow": workflow})


class Migration(migrations.Migration):
    dependencies = [("cms", "0005_message_permissions"), ("wagtailcore", "0098_apitoken"),
                    ("courses", "0003_session_series")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
