"""Site bootstrap: the page tree every deployment needs, created idempotently."""

from django.conf import settings as django_settings
from django.db import transaction
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Page, Site
from wagtail.rich_text import RichText

from cms.models import HomePage, SiteSettings, StandardPage
from cms.roles import COURSE_APPROVERS, COURSE_WORKFLOW, grant_course_index_permissions
from courses.models import CourseIndexPage
from courses.page_access import course_group_for
from partners.models import Ward
from partners.services import load_municipality


def ensure_course_workflow(index):
    """The workflow on the course index: a page drafted by partner staff goes live when a city programme officer
    (or the administrator) approves it, or comes back with their comment. Idempotent."""
    from django.contrib.auth.models import Group
    from wagtail.models import GroupApprovalTask, Workflow, WorkflowPage, WorkflowTask

    workflow, _created = Workflow.objects.get_or_create(name=COURSE_WORKFLOW, defaults={"active": True})
    task = GroupApprovalTask.objects.filter(name=COURSE_WORKFLOW).first()
    if task is None:
        task = GroupApprovalTask.objects.create(name=COURSE_WORKFLOW)
    task.groups.add(*Group.objects.filter(name__in=COURSE_APPROVERS))
    WorkflowTask.objects.get_or_create(workflow=workflow, task=task, defaults={"sort_order": 0})
    WorkflowPage.objects.update_or_create(page=index, defaults={"workflow": workflow})
    return workflow


@transaction.atomic
def ensure_site(*, hostname: str = "localhost", port: int = 80) -> Site:
    """Home page (replacing Wagtail's welcome page), the course index, the city's course group, a privacy
    policy page and the default municipality data when none is loaded. Safe to run again."""
    if not Ward.objects.exists():
        load_municipality()
    if not Locale.objects.exists():  # a flushed database (transactional tests) has lost Wagtail's defaults
        Locale.objects.create(language_code=get_supported_content_language_variant(django_settings.LANGUAGE_CODE))
    root = Page.get_first_root_node() or Page.add_root(instance=Page(title="Root", slug="root"))
    home = HomePage.objects.first()
    if home is None:
        home = HomePage(title="できる – スマホ・デジタル講座", slug="top",
                        intro="<p>スマートフォンやオンライン手続の使い方を、お住まいの近くの会場で、ゆっくり学べます。"
                              "参加は無料です。</p>",
                        intro_en="<p>Learn to use your smartphone and online public services at a venue near you, "
                                 "at your own pace. Classes are free.</p>")
        root.add_child(instance=home)
        home.save_revision().publish()
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        site = Site.objects.create(hostname=hostname, port=port, root_page=home, is_default_site=True,
                                   site_name="Dekiru")
    elif site.root_page_id != home.pk:
        site.root_page = home
        site.save()
    # Wagtail's own welcome page is not part of Dekiru.
    for page in Page.objects.child_of(root).exclude(pk=home.pk).filter(content_type__model="page"):
        page.delete()

    index = CourseIndexPage.objects.first()
    if index is None:
        index = CourseIndexPage(title="講座一覧", slug="courses", intro="", intro_en="All classes")
        home.add_child(instance=index)
        index.save_revision().publish()
    grant_course_index_permissions(index)
    ensure_course_workflow(index)
    course_group_for(None)

    site_settings = SiteSettings.for_site(site)
    if site_settings.privacy_policy_page is None:
        policy = StandardPage.objects.child_of(home).filter(slug="privacy").first()
        if policy is None:
            policy = StandardPage(title="個人情報の取扱い", slug="privacy", title_en="Privacy policy",
                                  body=_policy_body(PRIVACY_POLICY_JA), body_en=_policy_body(PRIVACY_POLICY_EN))
            home.add_child(instance=policy)
            policy.save_revision().publish()
        site_settings.privacy_policy_page = policy
        site_settings.save()
    return site


PRIVACY_POLICY_JA = [
    ("heading", "利用目的"),
    ("paragraph", "講座の申込でお預かりする氏名・フリガナ・連絡先は、講座の運営（受付、確認・リマインドの連絡、"
                  "変更・中止のお知らせ）のためだけに使います。年齢層とお住まいの区は、個人を特定しない統計"
                  "（デジタルデバイド対策の効果測定）に使います。生年月日はお預かりしません。"),
    ("heading", "提供と保存期間"),
    ("paragraph", "講座を実施する協力団体には、その団体の講座の参加者の情報だけを提供します。連絡先は、最後に"
                  "参加した講座から{months}か月後に削除し、統計用の年齢層・区・出欠だけを残します。"),
    ("paragraph", "プライバシーポリシー版：{version}"),
]
PRIVACY_POLICY_EN = [
    ("heading", "Why we collect your details"),
    ("paragraph", "Your name, kana reading and contact details are used only to run the class you book: "
                  "registration, confirmation and reminder messages, and news of changes or cancellations. "
                  "Your age band and ward are used for anonymous statistics on closing the digital divide. "
                  "We never ask for your date of birth."),
    ("heading", "Who sees them, and for how long"),
    ("paragraph", "A partner organisation running a class sees only the participants of its own classes. "
                  "Contact details are deleted {months} months after your last class; only age band, ward and "
                  "attendance are kept for statistics."),
    ("paragraph", "Privacy policy version: {version}"),
]


def _policy_body(blocks):
    values = {"months": django_settings.DEKIRU_RETENTION_MONTHS,
              "version": django_settings.DEKIRU_PRIVACY_POLICY_VERSION}
    return [(kind, RichText(f"<p>{text.format(**values)}</p>") if kind == "paragraph" else text.format(**values))
            for kind, text in blocks]
