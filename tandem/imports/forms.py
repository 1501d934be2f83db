"""Forms of the import wizard: upload a file, map its columns, map its values."""

import json

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from tandem.imports.fields import CUSTOM_PREFIX, KINDS
from tandem.imports.mapping import PRESETS, Mapping, MappingError
from tandem.imports.models import SavedMapping

KIND_LABELS = {
    "accounts": "Accounts",
    "people": "People",
    "opportunities": "Opportunities",
    "touchpoints": "Touchpoints",
    "users": "Users",
}
PRESET_LABELS = {
    "auto": "Automatic: match columns by header name",
    "hubspot": "HubSpot export",
    "salesforce": "Salesforce export",
}
MAPPING_FILE = "file"
MAX_MAPPING_FILE_BYTES = 256 * 1024


def max_upload_bytes() -> int:
    return settings.IMPORT_MAX_UPLOAD_BYTES


def too_large_message() -> str:
    return f"The file is larger than {filesizeformat(max_upload_bytes())}, the most this server accepts for an import."


class UploadForm(forms.Form):
    """Step 1: the file, what it holds, and how its columns are named."""

    kind = forms.ChoiceField(label="The file holds")
    file = forms.FileField(
        label="File", help_text="CSV (any common encoding and delimiter) or Excel .xlsx, with a header row."
    )
    mapping = forms.ChoiceField(label="Mapping")
    mapping_file = forms.FileField(
        label="Mapping file (JSON)", required=False, help_text="Only when the mapping is 'Upload a mapping file'."
    )

    def __init__(self, *args, kinds: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind, KIND_LABELS[kind]) for kind in kinds]
        self.fields["file"].help_text += f" At most {filesizeformat(max_upload_bytes())}."
        saved = [
            (f"saved:{mapping.pk}", f"Saved: {mapping.name} ({KIND_LABELS.get(mapping.kind, mapping.kind)})")
            for mapping in SavedMapping.objects.filter(kind__in=kinds).order_by("kind", "name")
        ]
        self.fields["mapping"].choices = [
            *((preset, PRESET_LABELS[preset]) for preset in PRESETS),
            *saved,
            (MAPPING_FILE, "Upload a mapping file (JSON)"),
        ]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > max_upload_bytes():
            raise forms.ValidationError(too_large_message())
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload

    def clean(self):
        data = super().clean()
        kind, choice = data.get("kind"), data.get("mapping")
        if not kind or not choice:
            return data
        try:
            data["mapping_data"], data["mapping_source"] = self._mapping(kind, choice)
        except MappingError as error:
            self.add_error("mapping_file" if choice == MAPPING_FILE else "mapping", str(error))
        return data

    def _mapping(self, kind: str, choice: str) -> tuple[dict, str]:
        if choice in PRESETS:
            return Mapping(kind=kind, preset=choice).as_dict(), PRESET_LABELS[choice]
        if choice.startswith("saved:"):
            saved = SavedMapping.objects.filter(pk=choice.removeprefix("saved:")).first()
            if saved is None:
                raise MappingError("this saved mapping no longer exists")
            if saved.kind != kind:
                raise MappingError(f"the saved mapping '{saved.name}' is for {saved.kind}, not {kind}")
            return Mapping.from_dict(saved.mapping, kind=kind).as_dict(), f"saved mapping '{saved.name}'"
        mapping_file = self.cleaned_data.get("mapping_file")
        if mapping_file is None:
            raise MappingError("choose the mapping file to upload")
        if mapping_file.size > MAX_MAPPING_FILE_BYTES:
            raise MappingError(f"a mapping file is at most {filesizeformat(MAX_MAPPING_FILE_BYTES)}")
        try:
            data = json.loads(mapping_file.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise MappingError("the mapping file is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise MappingError(f"the mapping file is not JSON (line {error.lineno}: {error.msg})") from None
        return Mapping.from_dict(data, kind=kind).as_dict(), f"mapping file {mapping_file.name}"


class MappingForm(forms.Form):
    """Step 2: where each column goes, and how dates and numbers are written."""

    date_order = forms.ChoiceField(
        label="Dates like 03/04/2025 are",
        choices=[("mdy", "Month first (March 4)"), ("dmy", "Day first (3 April)")],
    )
    number_style = forms.ChoiceField(
        label="Numbers are written",
        required=False,
        choices=[("", "Detect from the file"), ("dot", "1,234.56"), ("comma", "1.234,56")],
    )
    time_zone = forms.CharField(label="Times without a zone are in", max_length=64)
    create_accounts = forms.BooleanField(
        label="Create accounts for companies that match none", required=False, help_text="People files only."
    )
    allow_backward = forms.BooleanField(
        label="Let the file move stages backward", required=False, help_text="Otherwise a stage only moves forward."
    )
    save_as = forms.CharField(
        label="Save this mapping as",
        required=False,
        max_length=100,
        help_text="Optional: a name to choose this mapping again for the next file of the same shape.",
    )

    def __init__(self, *args, columns, field_options, **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        for column in columns:
            choices = [("", "Skip: not imported"), *field_options]
            choices.append((column.custom_target, f"Custom field '{column.custom_target[len(CUSTOM_PREFIX) :]}'"))
            if column.target and column.target not in {value for value, _ in choices}:
                choices.append((column.target, f"Custom field '{column.target[len(CUSTOM_PREFIX) :]}'"))
            self.fields[f"column_{column.index}"] = forms.ChoiceField(
                label=column.header, choices=choices, required=False, initial=column.target
            )

    def column_fields(self):
        return [(column, self[f"column_{column.index}"]) for column in self.columns]

    def clean(self):
        data = super().clean()
        chosen: dict[str, str] = {}
        for column in self.columns:
            target = data.get(f"column_{column.index}") or ""
            if not target:
                continue
            if target in chosen:
                self.add_error(
                    f"column_{column.index}",
                    f"'{chosen[target]}' already goes to this field; choose another field or skip one of them.",
                )
            chosen.setdefault(target, column.header)
        if not chosen and not self.errors:
            raise forms.ValidationError("Choose a field for at least one column.")
        return data

    def mapping(self, base: dict) -> Mapping:
        """The mapping these choices make, keeping the base mapping's values, templates and defaults."""
        data = self.cleaned_data
        columns = {column.header: data.get(f"column_{column.index}") or None for column in self.columns}
        settings_chosen = {
            "columns": columns,
            "date_order": data["date_order"],
            "number_style": data.get("number_style") or "",
            "time_zone": data["time_zone"].strip(),
            "create_accounts": bool(data.get("create_accounts")),
            "allow_backward": bool(data.get("allow_backward")),
        }
        return Mapping.from_dict({**base, **settings_chosen})


__all__ = ["KINDS", "MappingForm", "UploadForm"]
