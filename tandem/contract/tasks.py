"""Background work of the revenue contract: thin entry points that call services."""

from huey.contrib.djhuey import db_task

from tandem.contract.execution import contract_execute
from tandem.contract.models import ContractVersion, VersionStatus
from tandem.contract.tiers import account_tier_refresh


@db_task(retries=3, retry_delay=10)
def contract_published(version_id: int) -> dict | None:
    """Rescore everyone and qualify MQLs under a newly published version; a superseded version is skipped."""
    version = ContractVersion.objects.filter(pk=version_id, status=VersionStatus.PUBLISHED).first()
    if version is None:
        return None
    return contract_execute(version=version)


@db_task(retries=3, retry_delay=10)
def account_tier_changed(account_id: int) -> int | None:
    """An account's fields changed: put it in its ICP tier under the contract in force."""
    from tandem.contract.selectors import active_version

    version = active_version()
    if version is None:
        return None
    return account_tier_refresh(account_id=account_id, version=version)
