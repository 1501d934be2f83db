"""Who may change campaigns: marketing, their managers, and RevOps."""

from tandem.users.models import Role, Side


def can_edit_campaign(user, campaign=None) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.role == Role.REVOPS:
        return True
    if user.side != Side.MARKETING:
        return False
    if campaign is None or campaign.owner_id is None or campaign.owner_id == user.pk:
        return True
    return user.is_manager
