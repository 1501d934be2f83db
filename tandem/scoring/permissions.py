"""Who may read and export score ledgers: everyone signed in reads the shared record."""

from tandem.exports.permissions import can_export


def can_export_ledger(user) -> bool:
    """The same people who may export any list may export a person's ledger."""
    return can_export(user)
