from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from cms import display, health
from cms.views import favicon, set_language

urlpatterns = [
    # Probes of load balancers and monitoring (cms.health): no language prefix, no HTTPS redirect.
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("i18n/setlang/", set_language, name="set_language"),
    path("display/", display.set_display, name="set_display"),
    # The short links SMS carry (/s/<code>/ → the resident's page), one address for every language.
    path("", include("courses.short_links")),
    # Providers' webhooks (LINE's events, SendGrid's and Twilio's delivery reports): no language prefix.
    path("", include("courses.line_webhook_urls")),
    path("", include("courses.delivery_urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Public pages: Japanese at /, English at /en/.
urlpatterns += i18n_patterns(
    path("", include("courses.urls")),
    path("", include("courses.line_urls")),
    path("", include("outreach.urls")),
    path("", include("partners.invitation_urls")),
    path("", include(wagtail_urls)),
    prefix_default_language=False,
)
