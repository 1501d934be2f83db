from django.urls import path

from tandem.attribution import views

app_name = "attribution"
urlpatterns = [
    path("", views.attribution_page, name="page"),
    path("campaigns/<int:campaign_id>/journeys/", views.campaign_journeys, name="campaign-journeys"),
    path("people/<int:person_id>/journey/", views.person_journey_page, name="journey-person"),
    path("accounts/<int:account_id>/journey/", views.account_journey_page, name="journey-account"),
]
