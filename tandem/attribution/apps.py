from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "tandem.attribution"
    label = "attribution"

    def ready(self):
        # The contract's attribution section is checked by the app that runs it.
        from tandem.attribution.contract_sections import check_attribution
        from tandem.contract.document import register_section_check

        register_section_check("attribution", check_attribution)
