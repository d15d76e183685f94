"""`manage.py bench_seed` at a tiny scale: the counts asked for, every kind of row, and no second run by mistake."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from courses.models import Participant, Registration, Session
from outreach import metrics, summaries, summary_refresh
from outreach.models import Consultation, KpiTarget, PopulationFigure, SelfAssessment, SkillScore

pytestmark = pytest.mark.clock

TODAY = dt.date(2025, 10, 1)  # FY2025, half through: the data covers FY2023 to FY2025


def seed(*extra):
    out = io.StringIO()
    call_command("bench_seed", "--scale", "0.002", "--today", TODAY.isoformat(), *extra, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_counts_at_a_tiny_scale(site):
    output = seed()
    assert Session.objects.count() == 100  # 50,000 × 0.002
    assert Participant.objects.count() == 200  # 100,000 × 0.002
    assert Registration.objects.count() == 2000  # 1,000,000 × 0.002, exactly
    assert Consultation.objects.count() == 60  # 30,000 × 0.002
    assert "2,000 registrations" in output

    starts = Session.objects.order_by("starts_at").values_list("starts_at", flat=True)
    assert metrics.fiscal_year_of(timezone.localtime(starts.first()).date()) == 2023
    assert metrics.fiscal_year_of(timezone.localtime(starts.last()).date()) == 2025
    assert {2023, 2024, 2025} <= set(metrics.fiscal_years_with_data())

    statuses = dict(Registration.objects.values_list("status").annotate(n=Count("pk")))
    assert set(statuses) == set(Registration.Status.values)
    assert statuses[Registration.Status.ATTENDED] > Registration.objects.count() / 2  # mostly attended
    assert Registration.objects.filter(channel=Registration.Channel.WALK_IN, status="attended").exists()
    # Sessions cancelled: everyone's registration cancelled. Sessions after TODAY: nobody attended yet.
    assert not Registration.objects.filter(session__status="cancelled").exclude(status="cancelled").exists()
    later = Registration.objects.filter(session__starts_at__gt=metrics.local_midnight(TODAY + dt.timedelta(days=1)))
    assert later.exists()
    assert not later.filter(status__in=["attended", "no_show"]).exists()

    assert SelfAssessment.objects.filter(kind="pre").exists() and SelfAssessment.objects.filter(kind="post").exists()
    assert SkillScore.objects.exists()
    assert PopulationFigure.objects.values("year").distinct().count() == 3
    assert KpiTarget.objects.filter(fiscal_year=2025).count() == len(KpiTarget.Metric.values)


@pytest.mark.django_db
def test_refuses_a_database_with_sessions_unless_forced(site):
    seed()
    with pytest.raises(CommandError, match="already has sessions"):
        seed()
    assert Session.objects.count() == 100
    seed("--force", "--seed", "7")
    assert Session.objects.count() == 200  # added, nothing deleted
    assert Registration.objects.count() == 4000


@pytest.mark.django_db
def test_the_dashboard_reads_the_same_figures_from_the_seeded_summaries(site):
    seed()
    filters = metrics.Filters(fiscal_year=2024)
    summary_refresh.refresh(2024)
    read = metrics.summary(filters)
    assert read.attendances > 0
    assert read == metrics.summary(filters, now=read.as_of)
    assert metrics.skills(filters) == _plain(metrics.skills, filters)
    assert metrics.reach(filters) == _plain(metrics.reach, filters)


def _plain(function, filters):
    with summaries.plain():
        return function(filters)
