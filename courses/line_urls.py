"""URLs of line_urls (filled by the feature)"""

urlpatterns = []
