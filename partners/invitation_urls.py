"""The public pages of a staff invitation (partners.invitation_views), outside /admin: the invitee has no account
yet. Included by cms/urls.py in its language-prefixed patterns, so an English invitation links to /en/…."""

from django.urls import path

from partners import invitation_views

app_name = "staff_invitations"

urlpatterns = [
    path("staff/invitation/", invitation_views.accept_form, name="form"),
    path("staff/invitation/<str:token>/", invitation_views.open_link, name="accept"),
]
