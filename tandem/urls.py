from django.urls import include, path

from tandem.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("exports/", include("tandem.exports.urls")),
    path("contract/", include("tandem.contract.urls")),
    path("imports/", include("tandem.imports.urls")),
    path("scoring/", include("tandem.scoring.urls")),
    path("scorecard/", include("tandem.analytics.urls")),
    path("predict/", include("tandem.predict.urls")),
    path("handoff/sla/", include("tandem.sla.urls")),
    path("handoff/", include("tandem.handoff.urls")),
    path("attribution/", include("tandem.attribution.urls")),
    path("clv/", include("tandem.clv.urls")),
    path("", include("tandem.engagement.urls")),
    path("", include("tandem.core.urls")),
]

handler404 = "tandem.core.views.page_not_found"
handler403 = "tandem.core.views.permission_denied"
