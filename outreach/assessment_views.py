"""The resident's own can-do check: /check/<token>/ (Japanese) and /en/check/<token>/ (English).

Thin: the token names the registration and the kind (outreach.assessment_tokens), the service records the answers
(outreach.assessments). A link that is not ours is 404; a genuine link past its time, or a check this booking cannot
have (cancelled, not attended), is a page that says so, with status 410.
"""

from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from cms.ratelimit import ratelimit_post
from courses.models import Registration
from outreach import assessments
from outreach.assessment_forms import SelfAssessmentForm
from outreach.assessment_tokens import LinkExpired, check_from_token, link_expires_at
from outreach.models import SelfAssessment


def _registrations():
    return Registration.objects.select_related("session", "session__course", "session__venue")


def _closed(request, registration, kind: str, *, expired: bool):
    """The link cannot be used (any more): why, and how to reach us instead."""
    refusal = None if expired else assessments.refusal(registration, kind)
    return TemplateResponse(request, "outreach/assessment_closed.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "kind": kind, "expired": expired, "reason": refusal.message if refusal else "",
    }, status=410)


def _load(request, token):
    """(link, None) or (None, response) for a link that cannot be used."""
    try:
        link = check_from_token(token, _registrations())
    except LinkExpired as exc:
        return None, _closed(request, exc.registration, exc.kind, expired=True)
    if assessments.refusal(link.registration, link.kind) is not None:
        return None, _closed(request, link.registration, link.kind, expired=False)
    return link, None


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit_post("self_assessment")
def check(request, token):
    link, refused = _load(request, token)
    if refused:
        return refused
    registration, kind = link.registration, link.kind
    session = registration.session
    items = assessments.course_items(session.course)
    previous = assessments.previous_scores(registration, kind)
    form = SelfAssessmentForm(request.POST if request.method == "POST" else None, items=items, previous=previous)
    if request.method == "POST" and form.is_valid():
        try:
            assessments.record_self_assessment(registration=registration, kind=kind, scores=form.scores(),
                                               source=SelfAssessment.Source.ONLINE, actor=request.user)
        except assessments.AssessmentError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("outreach:check_done", token=token)
    return TemplateResponse(request, "outreach/assessment_form.html", {
        "form": form, "registration": registration, "session": session, "course": session.course, "kind": kind,
        "answered_before": bool(previous), "expires_at": link_expires_at(registration, kind), "token": token,
    }, status=400 if request.method == "POST" else 200)


@never_cache
@require_GET
def check_done(request, token):
    link, refused = _load(request, token)
    if refused:
        return refused
    registration, kind = link.registration, link.kind
    if not SelfAssessment.objects.filter(registration=registration, kind=kind).exists():
        return redirect("outreach:check", token=token)
    return TemplateResponse(request, "outreach/assessment_done.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "kind": kind, "expires_at": link_expires_at(registration, kind), "token": token,
    })
