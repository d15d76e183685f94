"""The resident's follow-up a month after the class, under /follow-up/ of the public site (namespace "outreach")."""

from django.urls import path

from outreach import followup_views as views

urlpatterns = [
    path("<str:token>/", views.follow_up, name="follow_up"),
    path("<str:token>/done/", views.follow_up_done, name="follow_up_done"),
]
