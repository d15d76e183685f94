"""URLs of delivery_urls (filled by the feature)"""

urlpatterns = []
