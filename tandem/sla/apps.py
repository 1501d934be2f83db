from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "tandem.sla"
    label = "sla"
    verbose_name = "Hand-off SLA"

    def ready(self):
        # The contract's sla section is checked by the code that runs the clocks.
        from tandem.contract.document import register_section_check
        from tandem.sla.policy import check_sla

        register_section_check("sla", check_sla)
