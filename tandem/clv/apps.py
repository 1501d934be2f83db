from django.apps import AppConfig


class ClvConfig(AppConfig):
    name = "tandem.clv"
    label = "clv"
    verbose_name = "Customer lifetime value"
