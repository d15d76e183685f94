"""The resident's follow-up a month after the class: /follow-up/<token>/ (Japanese) and /en/follow-up/<token>/.

Thin: the token names the registration (outreach.followups), the service records the answers. A link that is not
ours is 404; a genuine link outside its time, or a booking that cannot have a follow-up (not attended, cancelled
class), is a page that says so, with status 410. The rate limit is the can-do check's (the same kind of form).
"""

from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from cms.ratelimit import ratelimit_post
from courses.models import Registration
from outreach import followups
from outreach.followup_forms import FollowUpForm
from outreach.models import FollowUp


def _registrations():
    return Registration.objects.select_related("session", "session__course", "session__venue")


def _closed(request, registration, *, expired: bool):
    refusal = None if expired else followups.refusal(registration)
    return TemplateResponse(request, "outreach/followup/closed.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "expired": expired, "reason": refusal.message if refusal else "",
    }, status=410)


def _load(request, token):
    """(registration, None) or (None, response) for a link that cannot be used."""
    try:
        registration = followups.registration_from_token(token, _registrations())
    except followups.LinkExpired as exc:
        return None, _closed(request, exc.registration, expired=True)
    if followups.refusal(registration) is not None:
        return None, _closed(request, registration, expired=False)
    return registration, None


@never_cache
@require_http_methods(["GET", "POST"])
@ratelimit_post("self_assessment")
def follow_up(request, token):
    registration, refused = _load(request, token)
    if refused:
        return refused
    session = registration.session
    tasks = followups.asked_tasks()
    previous = followups.previous_answers(registration)
    form = FollowUpForm(request.POST if request.method == "POST" else None, tasks=tasks, previous=previous)
    if request.method == "POST" and form.is_valid():
        try:
            followups.record_follow_up(registration=registration, answers=form.answers(),
                                       source=FollowUp.Source.ONLINE, actor=request.user)
        except followups.FollowUpError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("outreach:follow_up_done", token=token)
    return TemplateResponse(request, "outreach/followup/form.html", {
        "form": form, "registration": registration, "session": session, "course": session.course,
        "answered_before": bool(previous), "expires_at": followups.link_expires_at(registration), "token": token,
    }, status=400 if request.method == "POST" else 200)


@never_cache
@require_GET
def follow_up_done(request, token):
    registration, refused = _load(request, token)
    if refused:
        return refused
    if not FollowUp.objects.filter(registration=registration).exists():
        return redirect("outreach:follow_up", token=token)
    return TemplateResponse(request, "outreach/followup/done.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "expires_at": followups.link_expires_at(registration), "token": token,
    })
