"""Who may read attribution: everyone signed in reads the shared record, costs and ROI included."""


def can_view_attribution(user) -> bool:
    """Every active, signed-in user: marketing and sales argue from the same numbers."""
    return bool(user and user.is_authenticated and user.is_active)
