from django.urls import path

from tandem.handoff import views

app_name = "handoff"
urlpatterns = [
    path("", views.my_handoffs, name="mine"),
    path("team/", views.team_view, name="team"),
    path("reports/", views.reports, name="reports"),
    path("goals/", views.goal_set, name="goal-set"),
    path("time-off/", views.time_off_create, name="time-off"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("<int:pk>/", views.handoff_detail, name="detail"),
    path("<int:pk>/accept/", views.handoff_accept, name="accept"),
    path("<int:pk>/reject/", views.handoff_reject, name="reject"),
    path("<int:pk>/reassign/", views.handoff_reassign, name="reassign"),
]
