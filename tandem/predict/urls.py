from django.urls import path

from tandem.predict import views

app_name = "predict"
urlpatterns = [
    path("", views.model_card, name="card"),
    path("train/", views.model_train, name="train"),
    path("models/<int:number>/activate/", views.model_activate, name="activate"),
    path("settings/", views.settings_update, name="settings"),
]
