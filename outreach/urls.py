from django.urls import include, path

app_name = "outreach"

# Public pages of the outreach app: open data, and the residents' can-do self-assessment.
urlpatterns = [
    path("opendata/", include("outreach.opendata_urls")),
    path("check/", include("outreach.assessment_urls")),
]
