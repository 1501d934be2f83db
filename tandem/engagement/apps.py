from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "tandem.engagement"
    label = "engagement"

    def ready(self):
        # The contract's channels section is checked by the classifier that runs it.
        from tandem.contract.document import register_section_check
        from tandem.engagement.channels import check_channels

        register_section_check("channels", check_channels)
