from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "tandem.scoring"
    label = "scoring"

    def ready(self):
        # A contract is checked by the engine that runs it: engagement rules are refused at their path.
        from tandem.contract.document import register_section_check
        from tandem.scoring.contract_sections import check_engagement

        register_section_check("engagement", check_engagement)
