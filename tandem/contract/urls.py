from django.urls import path

from tandem.contract import views

app_name = "contract"

urlpatterns = [
    path("", views.contract_detail, name="detail"),
    path("versions/", views.version_history, name="history"),
    path("versions/compare/", views.version_compare, name="compare"),
    path("versions/new/", views.draft_create, name="draft-create"),
    path("versions/import/", views.draft_import, name="draft-import"),
    path("versions/check/", views.draft_check, name="draft-check"),
    path("versions/<int:number>/", views.version_detail, name="version-detail"),
    path("versions/<int:number>/save/", views.draft_save, name="draft-save"),
    path("versions/<int:number>/decide/", views.version_decide, name="version-decide"),
    path("versions/<int:number>/withdraw/", views.version_withdraw, name="version-withdraw"),
    path("versions/<int:number>/backtest/", views.version_backtest, name="version-backtest"),
    path("versions/<int:number>/restore/", views.version_restore, name="version-restore"),
    path("versions/<int:number>/contract.yaml", views.version_yaml, name="version-yaml"),
]
