"""Turn a ValidationError into one line a person can act on, naming the field."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def describe_validation_error(error: ValidationError) -> str:
    """'email: 'x' is not a valid email address.' — one part per field, joined by '; '."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, messages in error.message_dict.items():
        text = " ".join(messages)
        parts.append(text if field == NON_FIELD_ERRORS else f"{field}: {text}")
    return "; ".join(parts)
