from django.urls import include, path

from tandem.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("tandem.core.urls")),
]
