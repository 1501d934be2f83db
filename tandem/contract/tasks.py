"""Background work of the revenue contract: thin entry points that call services."""

from huey.contrib.djhuey import db_task

from tandem.contract.execution import contract_execute
from tandem.contract.models import ContractVersion, VersionStatus


@db_task(retries=3, retry_delay=10)
def contract_published(version_id: int) -> dict | None:
    """Rescore everyone and qualify MQLs under a newly published version; a superseded version is skipped."""
    version = ContractVersion.objects.filter(pk=version_id, status=VersionStatus.PUBLISHED).first()
    if version is None:
        return None
    return contract_execute(version=version)
