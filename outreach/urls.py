from django.urls import include, path

app_name = "outreach"

# Public pages of the outreach app: open data, the residents' can-do self-assessment and the follow-up a month later.
urlpatterns = [
    path("opendata/", include("outreach.opendata_urls")),
    path("check/", include("outreach.assessment_urls")),
    path("follow-up/", include("outreach.followup_urls")),
]
