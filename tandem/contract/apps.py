from django.apps import AppConfig


class ContractConfig(AppConfig):
    name = "tandem.contract"
    label = "contract"
    verbose_name = "Revenue contract"

    def ready(self):
        # Conditions in the document are checked by the rule language that runs them.
        from tandem.contract.document import register_section_check
        from tandem.lib.rules.contract_sections import SECTION_CHECKS

        for section, check in SECTION_CHECKS.items():
            register_section_check(section, check)
