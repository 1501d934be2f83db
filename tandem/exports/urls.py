from django.urls import re_path

from tandem.exports import views

app_name = "exports"
urlpatterns = [
    re_path(
        r"^(?P<kind>people|accounts|opportunities)\.(?P<file_format>csv|xlsx)$",
        views.export_list,
        name="download",
    ),
]
