"""Open data, under /opendata/ of the public site (outreach.urls, namespace "outreach")."""

from django.urls import path

from outreach import opendata_views as views

urlpatterns = [
    path("", views.index, name="opendata"),
    path("events.csv", views.events_csv, name="events_csv"),
    path("events.json", views.events_json, name="events_json"),
    path("participation-FY<int:fiscal_year>.csv", views.participation_csv, name="participation_csv"),
]
