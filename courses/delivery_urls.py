"""The providers' delivery webhooks (courses.delivery_views), at the site's root: no language prefix."""

from django.urls import path

from cms.sms import STATUS_CALLBACK_PATH
from courses import delivery_views

urlpatterns = [
    path("hooks/sendgrid/events", delivery_views.sendgrid_events, name="sendgrid_events"),
    path(STATUS_CALLBACK_PATH.lstrip("/"), delivery_views.twilio_status, name="twilio_status"),
    path("hooks/twilio/incoming", delivery_views.twilio_incoming, name="twilio_incoming"),
]
