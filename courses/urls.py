from django.urls import path
from django.views.decorators.cache import never_cache

from courses import calendar_page, calendar_views, flyer_views, views

app_name = "courses"

# Pages reached through a resident's personal link show their booking: never stored by a browser or a shared cache
# (Cache-Control: no-store), so the next person on a shared family phone or library PC cannot bring them back.

urlpatterns = [
    path("classes/", views.session_list, name="session_list"),
    # Flyers (チラシ) to print and pin up: public, like the listing (courses.flyer_views).
    path("classes/<int:page_id>/", flyer_views.course_short, name="course_short"),
    path("classes/<int:page_id>/flyer.pdf", flyer_views.course_flyer, name="course_flyer"),
    path("flyers/", flyer_views.flyer_index, name="flyer_index"),
    path("flyers/<str:code>/<str:month>.pdf", flyer_views.ward_flyer, name="ward_flyer"),
    path("registrations/already/", views.already_registered, name="already_registered"),
    path("registrations/<str:token>/", never_cache(views.registration_detail), name="registration"),
    path("registrations/<str:token>/cancel/", never_cache(views.cancel), name="cancel"),
    path("registrations/<str:token>/slip.pdf", never_cache(views.registration_slip), name="registration_slip"),
    # iCalendar: downloads and subscribable feeds (courses.calendar_views).
    path("registrations/<str:token>/calendar.ics", never_cache(calendar_views.registration_ics),
         name="registration_ics"),
    path("sessions/<int:session_id>/register/", views.register, name="register"),
    path("sessions/<int:session_id>/calendar.ics", calendar_views.session_ics, name="session_ics"),
    path("calendar/sessions.ics", calendar_views.all_sessions_feed, name="feed_all"),
    path("calendar/courses/<int:page_id>.ics", calendar_views.course_feed, name="feed_course"),
    path("calendar/wards/<str:code>.ics", calendar_views.ward_feed, name="feed_ward"),
    path("calendar/partners/<int:partner_id>.ics", calendar_views.partner_feed, name="feed_partner"),
    path("calendar/staff/<str:token>.ics", calendar_views.staff_feed, name="feed_staff"),
    path("calendar/", calendar_page.current_month, name="calendar"),
    path("calendar/<int:year>/<int:month>/", calendar_page.month_calendar, name="month_calendar"),
]
