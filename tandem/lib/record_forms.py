"""Forms that validate input for a service call; the service, not the form, writes the record."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import fields_for_model, model_to_dict


def form_class_for(model, fields: list[str], *, name: str, extra: dict | None = None) -> type[forms.Form]:
    """A plain Form with the model's field types and validation, without the model's save()."""
    declared = fields_for_model(model, fields=fields)
    declared.update(extra or {})
    ordered = {key: declared[key] for key in fields if key in declared}
    ordered.update({key: value for key, value in declared.items() if key not in ordered})
    return type(name, (forms.Form,), ordered)


def initial_for(record, fields: list[str]) -> dict:
    return model_to_dict(record, fields=fields)


def changed_values(form: forms.Form) -> dict:
    """The cleaned values of the fields the user changed."""
    return {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's validation error next to the field it names (or above the form)."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message if target else f"{field}: {message}")
    else:
        for message in error.messages:
            form.add_error(None, message)


class RecordLookupField(forms.CharField):
    """A text box with suggestions that resolves 'Name (#id)' (or a bare id) to a record."""

    pattern = re.compile(r"#(\d+)\)?\s*$")

    def __init__(self, *, queryset, suggest_url: str, list_id: str, lookup_fields=(), **kwargs):
        self.queryset = queryset
        self.lookup_fields = lookup_fields
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off"}))
        super().__init__(**kwargs)
        self.datalist_id = list_id
        self.widget.attrs.update(
            {
                "list": self.datalist_id,
                "hx-get": suggest_url,
                "hx-trigger": "input changed delay:250ms",
                "hx-target": f"#{self.datalist_id}",
                "hx-swap": "innerHTML",
            }
        )

    def prepare_value(self, value):
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            record = self.queryset.filter(pk=value).first()
            return f"{record} (#{record.pk})" if record else value
        return value

    def clean(self, value):
        text = super().clean(value)
        if not text:
            return None
        match = self.pattern.search(text)
        if match:
            record = self.queryset.filter(pk=int(match.group(1))).first()
        elif text.isdigit():
            record = self.queryset.filter(pk=int(text)).first()
        else:
            record = None
            for name in self.lookup_fields:
                found = list(self.queryset.filter(**{f"{name}__iexact": text})[:2])
                if len(found) == 1:
                    record = found[0]
                    break
        if record is None:
            raise ValidationError(f"No match for '{text}'. Pick one of the suggestions.")
        return record
