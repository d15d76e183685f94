from django.urls import path

from courses import views

app_name = "courses"

urlpatterns = [
    path("classes/", views.session_list, name="session_list"),
    path("registrations/already/", views.already_registered, name="already_registered"),
    path("registrations/<str:token>/", views.registration_detail, name="registration"),
    path("registrations/<str:token>/cancel/", views.cancel, name="cancel"),
]
