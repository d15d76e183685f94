"""The resident's can-do check, under /check/ of the public site (outreach.urls, namespace "outreach")."""

from django.urls import path

from outreach import assessment_views as views

urlpatterns = [
    path("<str:token>/", views.check, name="check"),
    path("<str:token>/done/", views.check_done, name="check_done"),
]
