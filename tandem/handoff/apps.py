from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "tandem.handoff"
    label = "handoff"
    verbose_name = "Hand-off"

    def ready(self):
        # The routing section is checked by the router that runs it: every problem at its path.
        from tandem.contract.document import register_section_check
        from tandem.handoff.routing import check_routing

        register_section_check("routing", check_routing)
