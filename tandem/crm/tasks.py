"""Background work of the shared record: thin entry points that call services."""

from huey.contrib.djhuey import db_task

from tandem.crm import services
from tandem.crm.models import Account


@db_task(retries=3, retry_delay=10)
def match_people_to_account(account_id: int) -> int:
    """Link unlinked people to a new account by email domain; safe to run twice."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return 0
    return services.match_people_to_account(account=account)
