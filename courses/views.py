"""Public views: thin. Parse input, call one service, render."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cms import overload, pdf
from cms.models import SiteSettings
from cms.ratelimit import ratelimit_post
from courses import listing, services
from courses.forms import RegistrationForm, SessionFilterForm
from courses.models import Registration, Session, waitlist_rank
from courses.recipients import recipient_for
from courses.search import search_courses
from courses.tokens import registration_from_token


def _registration_queryset():
    return Registration.objects.select_related(
        "participant", "session", "session__course", "session__venue", "session__venue__ward", "session__organiser")


# The registration form's steps, named by the button that sent it (name="step"). Any other POST is the form
# itself: when valid, the review page is shown instead of registering (入力内容の確認).
STEP_REGISTER = "register"  # 「この内容で申し込む」 on the review page: the answers, re-validated, are registered
STEP_EDIT = "edit"  # 「修正する」 on the review page: back to the form, every value kept


@require_http_methods(["GET", "POST"])
@ratelimit_post("registration")
def register(request, session_id):
    """The registration form for one session (/sessions/<id>/register/). Sessions of a course whose page is not
    public (draft, unpublished, private) do not exist here; the booking service refuses them on every path.

    Three steps at one address, no JavaScript: the form; on a valid POST, the review page listing every answer
    in words and where messages will go, with the answers carried as hidden fields; its 「この内容で申し込む」
    posts them again (validated again: the review page is never trusted) and registers, its 「修正する」 shows
    the form with every value kept. A double click on the last button still makes one registration
    (services.register is idempotent per person and session).

    The last step reads nothing before the booking's transaction: services.register locks the session and reads it
    (with its course's public check) in one statement, so the page's reading of the session, with its seat counts,
    happens only when a page is shown again (invalid answers, a refusal, 「ただいま混み合っています」)."""
    form = RegistrationForm(request.POST or None)
    step = request.POST.get("step")
    if request.method == "POST" and step == STEP_REGISTER:
        return _register(request, session_id, form)
    context = _page_context(session_id)
    if request.method == "POST" and step == STEP_EDIT:
        # Back from the review: the answers as typed, in the form, without the error summary of an empty form.
        return TemplateResponse(request, "courses/register.html", context | {"form": form, "editing": True})
    if request.method == "POST" and context["refusal"] is None and form.is_valid():
        return TemplateResponse(request, "courses/register_review.html", _review_context(context, form))
    return _form_page(request, context, form)


def _page_context(session_id) -> dict:
    """What the form and review pages show of the session: one query (the session with its seat counts, course,
    venue, ward and organiser, of a public course only; 404 otherwise)."""
    session = get_object_or_404(
        services.public_session_queryset().with_counts().select_related("course", "venue", "venue__ward",
                                                                        "organiser"),
        pk=session_id)
    return {
        "page": session.course, "course": session.course, "session": session,
        "refusal": services.refusal_reason(session),
        "privacy_policy_version": settings.DEKIRU_PRIVACY_POLICY_VERSION,
    }


def _review_context(context: dict, form: RegistrationForm) -> dict:
    return context | {"form": form, "answers": form.answers(), "recipient": form.recipient()}


def _form_page(request, context: dict, form: RegistrationForm) -> TemplateResponse:
    return TemplateResponse(request, "courses/register.html", context | {"form": form},
                            status=400 if request.method == "POST" else 200)


def _register(request, session_id, form: RegistrationForm):
    """「この内容で申し込む」: the answers validated again, then the booking (services.register), whose transaction is
    the first thing read. A refusal, invalid answers or the busy answer show a page again, with the session read
    then."""
    if not form.is_valid():
        return _form_page(request, _page_context(session_id), form)
    if overload.queued_too_long(request):
        return _busy(request, _review_context(_page_context(session_id), form))
    try:
        booker = form.booker_details()
        notify_by, sms_consent = form.notify_choice()
        result = services.register(
            session=Session(pk=session_id), participant=form.participant_details(get_language()), booker=booker,
            channel=Registration.Channel.WEB,
            booked_by=Registration.BookedBy.FAMILY if booker else Registration.BookedBy.SELF, actor=request.user,
            notify_by=notify_by, sms_consent=sms_consent, bounded_wait=True)
    except (Session.DoesNotExist, services.CourseNotPublic) as exc:
        raise Http404 from exc
    except overload.Busy:
        return _busy(request, _review_context(_page_context(session_id), form))
    except services.RegistrationError as exc:
        context = _page_context(session_id)
        form.add_error(None, exc.message)
        return _form_page(request, context, form)
    if not result.created:
        # Never show someone else's booking, or its cancel link, to whoever submitted the form.
        return redirect("courses:already_registered")
    return redirect(result.registration.get_manage_url())


def _busy(request, review: dict) -> TemplateResponse:
    """「ただいま混み合っています」 (cms.overload): the review page again, every answer kept in its hidden fields, so
    that pressing 「この内容で申し込む」 once more is all it takes. 503 with Retry-After; nothing was registered."""
    messages.warning(request, overload.MESSAGE)
    return overload.busy(TemplateResponse(request, "courses/register_review.html", review | {"busy": True}))


def session_list(request):
    """The class listing: upcoming sessions with filters, keyword search and pages (GET, no JavaScript). A page
    costs the same whatever the number of sessions (courses.listing)."""
    form = SessionFilterForm(request.GET or None)
    filters = form.filters()
    page = listing.listing_page(filters, request.GET.get("page"))
    matching_courses = list(search_courses(filters["q"]).order_by("title")[:20]) if filters.get("q") else None
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(request, "courses/session_list.html", {
        "form": form, "page_obj": page, "sessions": page.object_list, "matching_courses": matching_courses,
        "filtered": bool(filters), "querystring": query.urlencode(),
    })


def already_registered(request):
    return TemplateResponse(request, "courses/already_registered.html", {})


def registration_detail(request, token):
    """The confirmation page: everything the resident needs, reached through their own signed link."""
    registration = registration_from_token(token, _registration_queryset())
    return TemplateResponse(request, "courses/registration_detail.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "waitlist_rank": waitlist_rank(registration), "token": token,
        "recipient": recipient_for(registration),
    })


@require_http_methods(["GET", "POST"])
@ratelimit_post("cancel")
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


def slip_pdf(request, registration: Registration):
    """The booking slip (控え) as a PDF: A5, large print (templates/courses/slip.html, cms.pdf)."""
    site_settings = SiteSettings.for_request(request)
    html = render_to_string("courses/slip.html", {
        "registration": registration, "session": registration.session, "course": registration.session.course,
        "phone": site_settings.phone_number}, request=request)
    return pdf.response(html, f"booking-{registration.reference}.pdf")


def registration_slip(request, token):
    """/registrations/<token>/slip.pdf: the resident prints their slip from their own page."""
    return slip_pdf(request, registration_from_token(token, _registration_queryset()))
