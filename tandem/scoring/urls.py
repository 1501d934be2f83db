from django.urls import path

from tandem.scoring import views

app_name = "scoring"
urlpatterns = [
    path("people/<int:person_id>/ledger.csv", views.person_ledger_csv, name="person-ledger-csv"),
]
