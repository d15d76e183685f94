"""The providers' delivery webhooks (courses.delivery_events holds what they do): thin views that check the
request is the provider's own — a signature, never an id alone — and answer as the provider expects.

- POST /hooks/sendgrid/events: SendGrid's Event Webhook. 404 while SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY is not set
  (the endpoint is off), 403 for a missing, wrong or stale signature, 400 for a body that is not a JSON array of
  events, 200 otherwise (also for events about no message of ours: SendGrid would only send them again).
- POST /hooks/twilio/status and /hooks/twilio/incoming: Twilio's status callback and incoming SMS. 404 while
  DEKIRU_TWILIO_AUTH_TOKEN is not set, 403 for a wrong signature. The signed URL is the site's configured address
  (DEKIRU_BASE_URL) and the path, as Twilio called it: behind a proxy the request's own host may differ.
"""

import json
import logging

from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cms.sending import absolute
from courses import delivery_events

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def sendgrid_events(request):
    if not delivery_events.sendgrid_public_key():
        raise Http404
    try:
        body = request.body
    except RequestDataTooBig:
        return HttpResponseBadRequest("too large")
    try:
        body.decode("utf-8")  # SendGrid signs text: a body that is not UTF-8 is not SendGrid's
    except UnicodeDecodeError:
        return HttpResponseBadRequest("not UTF-8")
    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    if not delivery_events.sendgrid_signature_ok(body, signature, timestamp):
        logger.warning("SendGrid event webhook: missing, wrong or stale signature")
        return HttpResponseForbidden("bad signature")
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return HttpResponseBadRequest("not JSON")
    if not isinstance(events, list):
        return HttpResponseBadRequest("not a list of events")
    delivery_events.apply_sendgrid_events(events)
    return HttpResponse(status=200)


def _twilio_params(request):
    """The POST parameters as Twilio signed them, or None when the request is not Twilio's (off, bad signature,
    unreadable)."""
    if not delivery_events.twilio_auth_token():
        raise Http404
    try:
        params = request.POST
    except (RequestDataTooBig, MultiPartParserError, BadRequest) as exc:
        raise BadRequest("unreadable form") from exc
    url = absolute(request.get_full_path())
    if not delivery_events.twilio_signature_ok(url, params, request.headers.get("X-Twilio-Signature", "")):
        logger.warning("Twilio webhook: missing or wrong signature")
        return None
    return params


@csrf_exempt
@require_POST
def twilio_status(request):
    params = _twilio_params(request)
    if params is None:
        return HttpResponseForbidden("bad signature")
    delivery_events.apply_twilio_status(params)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_incoming(request):
    params = _twilio_params(request)
    if params is None:
        return HttpResponseForbidden("bad signature")
    delivery_events.apply_incoming_sms(params)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml; charset=utf-8")
