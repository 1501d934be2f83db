from django.urls import path

from tandem.campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="campaign-list"),
    path("new/", views.campaign_create, name="campaign-create"),
    path("<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="campaign-edit"),
    path("<int:campaign_id>/delete/", views.campaign_delete, name="campaign-delete"),
]
