from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "tandem.analytics"
    label = "analytics"
    verbose_name = "Scorecard and analytics"
