from django.urls import path

from tandem.crm import views

app_name = "crm"
urlpatterns = [
    path("people/", views.person_list, name="person-list"),
    path("people/new/", views.person_create, name="person-create"),
    path("people/suggest/", views.person_suggest, name="person-suggest"),
    path("people/<int:person_id>/", views.person_detail, name="person-detail"),
    path("people/<int:person_id>/edit/", views.person_edit, name="person-edit"),
    path("people/<int:person_id>/stage/", views.person_move_stage, name="person-move-stage"),
    path("people/<int:person_id>/activities/", views.person_log_activity, name="person-log-activity"),
    path("people/<int:person_id>/delete/", views.person_delete, name="person-delete"),
    path("account-matches/<int:match_id>/undo/", views.account_match_undo, name="account-match-undo"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/new/", views.account_create, name="account-create"),
    path("accounts/suggest/", views.account_suggest, name="account-suggest"),
    path("accounts/<int:account_id>/", views.account_detail, name="account-detail"),
    path("accounts/<int:account_id>/edit/", views.account_edit, name="account-edit"),
    path("accounts/<int:account_id>/delete/", views.account_delete, name="account-delete"),
    path("opportunities/", views.opportunity_list, name="opportunity-list"),
    path("opportunities/new/", views.opportunity_create, name="opportunity-create"),
    path("opportunities/<int:opportunity_id>/", views.opportunity_detail, name="opportunity-detail"),
    path("opportunities/<int:opportunity_id>/edit/", views.opportunity_edit, name="opportunity-edit"),
    path("opportunities/<int:opportunity_id>/delete/", views.opportunity_delete, name="opportunity-delete"),
]
