"""The LINE webhook (courses.line_linking): top level, without a language prefix, as LINE's console is given it."""

from django.urls import path

from courses import line_linking

urlpatterns = [
    path("line/webhook", line_linking.webhook, name="line_webhook"),
]
