from django.apps import AppConfig


class PredictConfig(AppConfig):
    name = "tandem.predict"
    label = "predict"
    verbose_name = "Predictive lead score"
