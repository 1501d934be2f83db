from django.apps import AppConfig


class ContractConfig(AppConfig):
    name = "tandem.contract"
    label = "contract"
    verbose_name = "Revenue contract"
