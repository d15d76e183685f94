"""Public views: thin. Parse input, call one service, render."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from courses import services
from courses.forms import RegistrationForm
from courses.models import Registration, Session
from courses.tokens import registration_from_token


def _registration_queryset():
    return Registration.objects.select_related(
        "participant", "session", "session__course", "session__venue", "session__venue__ward", "session__organiser")


@require_http_methods(["GET", "POST"])
def register(request, *, course, session_id):
    """The registration form for one session of `course` (served under the course page)."""
    session = get_object_or_404(
        Session.objects.with_counts().select_related("venue", "venue__ward", "organiser"),
        pk=session_id, course=course)
    refusal = None
    try:
        services.check_open_for_registration(session)
    except services.RegistrationError as exc:
        refusal = exc.message

    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            result = services.register(session=session, participant=form.participant_details(get_language()),
                                       channel=Registration.Channel.WEB, actor=request.user)
        except services.RegistrationError as exc:
            form.add_error(None, exc.message)
        else:
            if not result.created:
                # Never show someone else's booking, or its cancel link, to whoever submitted the form.
                return redirect("courses:already_registered")
            return redirect(result.registration.get_manage_url())
    return TemplateResponse(request, "courses/register.html", {
        "page": course, "course": course, "session": session, "form": form, "refusal": refusal,
    }, status=400 if request.method == "POST" else 200)


def already_registered(request):
    return TemplateResponse(request, "courses/already_registered.html", {})


def registration_detail(request, token):
    """The confirmation page: everything the resident needs, reached through their own signed link."""
    registration = registration_from_token(token, _registration_queryset())
    return TemplateResponse(request, "courses/registration_detail.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "waitlist_rank": services.waitlist_rank(registration), "token": token,
    })


@require_http_methods(["GET", "POST"])
def cancel(request, token):
    registration = registration_from_token(token, _registration_queryset())
    error = None
    if request.method == "POST":
        try:
            services.cancel_registration(registration=registration, actor=request.user)
        except services.RegistrationError as exc:
            error = exc.message
        else:
            messages.success(request, _("Your registration has been cancelled."))
            return redirect("courses:registration", token=token)
    if registration.status not in (Registration.Status.CONFIRMED, Registration.Status.WAITLISTED) and not error:
        return redirect("courses:registration", token=token)
    return TemplateResponse(request, "courses/cancel.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "error": error, "token": token,
    }, status=400 if error else 200)


