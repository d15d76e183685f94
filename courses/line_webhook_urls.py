"""URLs of line_webhook_urls (filled by the feature)"""

urlpatterns = []
