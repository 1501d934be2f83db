"""Which column fills which field, and how each cell is read: the mapping and its compiled plan.

A mapping is plain data (saved in the database or in a JSON file, see docs/import-export.md):

    {"kind": "opportunities", "preset": "auto",
     "columns": {"opportunity_id": "external_id", "product": "custom.product", "notes": null},
     "values": {"stage": {"Engaging": "qualification"}, "custom.product": {"GTXPro": "GTX Pro"}},
     "templates": {"name": "{product} for {account}"},
     "defaults": {"currency": "USD"},
     "multiply": {"revenue": 1000000},
     "blank_values": ["Select"], "date_order": "mdy", "time_zone": "UTC"}

Columns the mapping does not name are matched by header name under the preset; a column
mapped to null is not imported. The plan compiles this against one file's header and a sample
of its rows: one reader per column, with the date format and number style chosen from the data.
"""

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tandem.imports.choices import ChoiceList
from tandem.imports.fields import CUSTOM_PREFIX, FIELDS_BY_NAME, KINDS, REPORT_COLUMNS, field_for_header
from tandem.imports.values import (
    DATE_FORMATS_BY_KEY,
    NUMBER_STYLES,
    CellError,
    DateReader,
    NumberReader,
    detect_date_format,
    detect_number_style,
    parse_boolean,
    parse_domain,
    parse_email,
    unquote_formula,
)

PRESETS = ("auto", "hubspot", "salesforce")
TEMPLATE_PART = re.compile(r"\{([^{}|]+)(?:\|([a-z_]+))?\}")
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .\-/]{0,99}$")
MAX_TEXT = 10_000  # the longest text a custom field takes


class MappingError(ValueError):
    """The mapping itself is wrong (unknown field, bad option); names the part that is."""


@dataclass
class Mapping:
    """How a file's columns become a kind of record."""

    kind: str
    preset: str = "auto"
    columns: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    multiply: dict[str, str] = field(default_factory=dict)
    blank_values: list[str] = field(default_factory=list)
    date_order: str = "mdy"
    date_formats: dict[str, str] = field(default_factory=dict)
    number_style: str = ""
    time_zone: str = "UTC"
    allow_backward: bool = False
    create_accounts: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise MappingError(f"kind: '{self.kind}' is not one of {', '.join(KINDS)}")
        if self.preset not in PRESETS:
            raise MappingError(f"preset: '{self.preset}' is not one of {', '.join(PRESETS)}")
        known = FIELDS_BY_NAME[self.kind]
        for column, target in self.columns.items():
            if target is not None and target not in known and not _is_custom(target):
                raise MappingError(f"columns.{column}: '{target}' is not a field of {self.kind}")
        for section in ("values", "templates", "defaults"):
            for target in getattr(self, section):
                if target not in known and not _is_custom(target):
                    raise MappingError(f"{section}.{target}: not a field of {self.kind}")
        for column, factor in self.multiply.items():
            try:
                Decimal(str(factor))
            except InvalidOperation:
                raise MappingError(f"multiply.{column}: '{factor}' is not a number") from None
        if self.date_order not in ("mdy", "dmy"):
            raise MappingError("date_order: expected 'mdy' (month first) or 'dmy' (day first)")
        for target, key in self.date_formats.items():
            if key not in DATE_FORMATS_BY_KEY:
                raise MappingError(f"date_formats.{target}: '{key}' is not one of {', '.join(DATE_FORMATS_BY_KEY)}")
        if self.number_style and self.number_style not in NUMBER_STYLES:
            raise MappingError("number_style: expected 'dot' or 'comma'")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"time_zone: '{self.time_zone}' is not a time zone name (e.g. Europe/Berlin)") from None

    @classmethod
    def from_dict(cls, data: dict, *, kind: str | None = None) -> "Mapping":
        if not isinstance(data, dict):
            raise MappingError("a mapping is a JSON object")
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed - {"name", "description"})
        if unknown:
            raise MappingError(f"{unknown[0]}: not a mapping setting (expected {', '.join(sorted(allowed))})")
        values = {key: value for key, value in data.items() if key in allowed}
        if kind is not None:
            if values.get("kind", kind) != kind:
                raise MappingError(f"kind: this mapping is for {values['kind']}, not {kind}")
            values["kind"] = kind
        try:
            return cls(**values)
        except TypeError as error:
            raise MappingError(str(error)) from None

    @classmethod
    def from_file(cls, path: str | Path, *, kind: str | None = None) -> "Mapping":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise MappingError(f"the mapping file cannot be read: {error}") from None
        except json.JSONDecodeError as error:
            raise MappingError(f"the mapping file is not JSON (line {error.lineno}: {error.msg})") from None
        return cls.from_dict(data, kind=kind)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _is_custom(target: str) -> bool:
    return target.startswith(CUSTOM_PREFIX) and bool(CUSTOM_KEY.match(target[len(CUSTOM_PREFIX) :]))


@dataclass
class ColumnPlan:
    """One imported column: where it goes and how its cells are read."""

    index: int
    header: str
    field: str
    label: str
    reader: object
    value_map: dict[str, str]
    reading: str = ""  # how values are read, stated in the preview ("dates as DD/MM/YYYY")


@dataclass
class Plan:
    """A mapping compiled against one file: the columns read, skipped, and the derived values."""

    kind: str
    mapping: Mapping
    header: list[str]
    columns: list[ColumnPlan]
    skipped: list[str]
    templates: dict[str, str]
    defaults: dict[str, object]
    currency_from_amount: bool = False

    @property
    def fields(self) -> set[str]:
        return {column.field for column in self.columns} | set(self.templates) | set(self.defaults)


def _text_reader(max_length: int | None):
    limit = max_length or MAX_TEXT

    def read(text: str) -> str:
        value = text.strip()
        if len(value) > limit:
            raise CellError(f"is {len(value):,} characters long; at most {limit:,} fit")
        return value

    return read


def build_plan(mapping: Mapping, header: list[str], sample: list[list[str]], choices: dict[str, ChoiceList]) -> Plan:
    """Compile `mapping` for a file with this header, reading dates and numbers the way `sample` does."""
    kind = mapping.kind
    known = FIELDS_BY_NAME[kind]
    explicit = {_header_key(name): target for name, target in mapping.columns.items()}
    for name in mapping.columns:
        if _header_key(name) not in {_header_key(h) for h in header}:
            raise MappingError(f"columns.{name}: the file has no column '{name}'")
    used: set[str] = set()
    columns, skipped = [], []
    blank = {value.strip().casefold() for value in mapping.blank_values}
    for index, name in enumerate(header):
        key = _header_key(name)
        if key in explicit:
            target = explicit[key]
        elif name.strip().lower() in REPORT_COLUMNS:
            target = None
        else:
            target = field_for_header(kind, name, mapping.preset)
        if target is None or target in used:
            skipped.append(name)
            continue
        used.add(target)
        values = [row[index] for row in sample if index < len(row)]
        values = [v for v in (unquote_formula(v).strip() for v in values) if v and v.casefold() not in blank]
        reader, reading = _reader_for(mapping, target, known.get(target), values, choices, name)
        columns.append(
            ColumnPlan(
                index=index,
                header=name,
                field=target,
                label=known[target].label if target in known else target,
                reader=reader,
                value_map=dict(mapping.values.get(target, {})),
                reading=reading,
            )
        )
    for target, template in mapping.templates.items():
        for column_name, _ in TEMPLATE_PART.findall(template):
            if _header_key(column_name) not in {_header_key(h) for h in header}:
                raise MappingError(f"templates.{target}: the file has no column '{column_name}'")
    defaults = {}
    for target, value in mapping.defaults.items():
        definition = known.get(target)
        reader, _ = _reader_for(mapping, target, definition, [str(value)], choices, f"defaults.{target}")
        try:
            defaults[target] = reader(str(value))
        except CellError as error:
            raise MappingError(f"defaults.{target}: {error}") from None
    plan = Plan(
        kind=kind,
        mapping=mapping,
        header=header,
        columns=columns,
        skipped=skipped,
        templates=dict(mapping.templates),
        defaults=defaults,
    )
    plan.currency_from_amount = kind == "opportunities" and "currency" not in plan.fields
    return plan


def _header_key(name: str) -> str:
    return name.strip().casefold()


def _reader_for(mapping: Mapping, target: str, definition, values: list[str], choices, column: str):
    """A function text → value for this field, and a sentence on how it reads values."""
    if definition is None:  # a custom field: kept as text
        return _text_reader(MAX_TEXT), "kept as text"
    type_ = definition.type
    factor = mapping.multiply.get(column)
    if type_ in ("date", "datetime"):
        chosen = mapping.date_formats.get(target)
        date_format = (
            DATE_FORMATS_BY_KEY[chosen]
            if chosen
            else detect_date_format(values, preferred_order=mapping.date_order) or DATE_FORMATS_BY_KEY["iso"]
        )
        reader = DateReader(date_format, time_zone=mapping.time_zone)
        zone = f", times in {mapping.time_zone} unless the value names its zone" if type_ == "datetime" else ""
        return (reader.datetime if type_ == "datetime" else reader.date), f"dates as {date_format.label}{zone}"
    if type_ in ("integer", "decimal", "money"):
        style = NUMBER_STYLES[mapping.number_style] if mapping.number_style else detect_number_style(values)
        numbers = NumberReader(style)
        reading = f"numbers as {style.label}"
        if factor is not None:
            multiplier = Decimal(str(factor))
            reading += f", multiplied by {multiplier:,}"
            if type_ == "money":
                return (lambda text: _scaled_money(numbers.money(text), multiplier)), reading
            if type_ == "integer":
                return (lambda text: int(numbers.decimal(text) * multiplier)), reading
            return (lambda text: numbers.decimal(text) * multiplier), reading
        if type_ == "integer":
            return numbers.integer, reading
        if type_ == "decimal":
            return (lambda text: numbers.decimal(text, places=2)), reading
        return numbers.money, reading + "; a currency sign or code may be written with the amount"
    if type_ == "boolean":
        return parse_boolean, "yes/no, true/false or 1/0"
    if type_ == "email":
        return _limited(parse_email, definition.max_length), "email addresses, stored in lower case"
    if type_ == "domain":
        return parse_domain, "domains; website addresses are reduced to their domain"
    if type_ == "choice":
        choice_list = choices[definition.choices]
        return choice_list.key_for, f"one of {choice_list.expected}"
    if type_ == "json":
        return _json_object, "a JSON object"
    return _text_reader(definition.max_length), f"text of at most {definition.max_length or MAX_TEXT:,} characters"


def _scaled_money(pair, multiplier):
    amount, currency = pair
    return amount * multiplier, currency


def _limited(reader, max_length):
    def read(text: str):
        if max_length and len(text.strip()) > max_length:
            raise CellError(f"is {len(text.strip()):,} characters long; at most {max_length:,} fit")
        return reader(text)

    return read


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CellError(f"is not JSON ({error.msg} at character {error.pos + 1})") from None
    if not isinstance(value, dict):
        raise CellError("is JSON but not an object ({...})")
    return value


def render_template(template: str, row: dict[str, str]) -> str:
    """Fill `{column}` parts with the row's values; `{column|email_local}` makes 'Ann Lee' 'ann.lee'."""

    def replace(match: re.Match) -> str:
        value = row.get(_header_key(match[1]), "").strip()
        if match[2] == "email_local":
            value = re.sub(r"[^a-z0-9]+", ".", value.casefold()).strip(".")
        elif match[2] == "lower":
            value = value.lower()
        return value

    return TEMPLATE_PART.sub(replace, template)
