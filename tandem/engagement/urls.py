from django.urls import path

from tandem.engagement import views

urlpatterns = [
    path("settings/tracking/", views.tracking, name="tracking"),
    path("reports/utm/", views.utm_quality, name="utm-quality"),
    path("hooks/email/<str:provider>/", views.email_webhook, name="email-webhook"),
    path("people/<int:person_id>/visits/", views.person_visits, name="person-visits"),
]
