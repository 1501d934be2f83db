"""Read an import file as rows of text: CSV (encoding and delimiter detected) or XLSX, streamed.

Problems that make the whole file unreadable raise `UnreadableFileError` before anything is
written; problems of one record (bad quoting, too many fields) come out as `RecordProblem`s so
that the importer can report that line and go on.
"""

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# A cell may be large (notes, descriptions), but not without bound: beyond this the record is
# reported instead of being held in memory.
MAX_CELL_CHARACTERS = 1_000_000
csv.field_size_limit(MAX_CELL_CHARACTERS)

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 256 * 1024
UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
SIGNATURES = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xd0\xcf\x11\xe0": "an old-style Excel (.xls) or Word file; save it as .xlsx or CSV",
    b"\x1f\x8b": "a gzip archive; unpack it first",
}
XLSX_SIGNATURE = b"PK\x03\x04"


class UnreadableFileError(Exception):
    """The file cannot be read at all; nothing from it is imported."""

    def __init__(self, message: str, *, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(slots=True, weakref_slot=True)
class Record:
    """One data row of the file: its line number and its cells as text."""

    line: int
    values: list[str]


@dataclass(slots=True)
class RecordProblem:
    """A row that could not be split into the file's columns."""

    line: int
    message: str
    values: list[str] = field(default_factory=list)


@dataclass
class SourceInfo:
    """What was detected about a file; the preview states it."""

    format: str
    header: list[str]
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    # How far `position` runs: bytes for CSV, rows for XLSX.
    progress_total: int = 0

    @property
    def description(self) -> str:
        if self.format == "xlsx":
            return f"Excel workbook, sheet '{self.sheet}'"
        return f"CSV, {self.encoding}, {DELIMITERS.get(self.delimiter, repr(self.delimiter))}-separated"


class _CountingReader(io.RawIOBase):
    """A binary reader that counts the bytes handed out, for progress by position."""

    def __init__(self, handle):
        self.handle = handle
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        self.position += count or 0
        return count


def _line_of_offset(path: Path, offset: int) -> int:
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n") + 1


def detect_encoding(path: Path, requested: str | None = None) -> str:
    """The file's text encoding: the one requested (checked), a BOM's, UTF-8, or Windows-1252.

    The whole file is checked, so that a file that is mostly UTF-8 with some lines in another
    encoding is refused with the line named instead of being read with mangled characters.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if requested:
        try:
            codecs.lookup(requested)
        except LookupError:
            raise UnreadableFileError(f"'{requested}' is not a text encoding this server knows.") from None
        encoding = requested
    elif head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    saw_multibyte = False
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                bad_offset = offset + error.start
                saw_multibyte = saw_multibyte or bool(UTF8_MULTIBYTE.search(chunk[: error.start]))
                break
            saw_multibyte = saw_multibyte or (encoding == "utf-8" and bool(UTF8_MULTIBYTE.search(chunk)))
            offset += len(chunk)
        else:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise UnreadableFileError(f"the file ends in the middle of a {encoding} character.") from None
            return encoding
    line = _line_of_offset(path, bad_offset)
    if requested or encoding != "utf-8":
        raise UnreadableFileError(f"the bytes here are not valid {encoding} text.", line=line)
    if saw_multibyte:
        raise UnreadableFileError(
            "this line is not UTF-8 while earlier lines are: the file mixes two encodings. "
            "Save it again as UTF-8, or name the encoding with --encoding.",
            line=line,
        )
    return "cp1252"


def _check_not_binary(path: Path, head: bytes) -> None:
    if not head:
        raise UnreadableFileError("the file is empty.")
    for signature, what in SIGNATURES.items():
        if head.startswith(signature):
            raise UnreadableFileError(f"this is {what}, not a CSV or XLSX file.")
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and b"\x00" in head[:8192]:
        raise UnreadableFileError("this looks like a binary file (it holds NUL bytes), not a CSV or XLSX file.")


def _detect_delimiter(sample_lines: list[str]) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields."""
    best, best_score = ",", -1
    for delimiter in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(sample_lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for count in counts if count == counts[0])
        score = consistent * 1000 + counts[0]
        if score > best_score:
            best, best_score = delimiter, score
    return best


class CsvSource:
    """A CSV file read as records."""

    def __init__(self, path: Path, *, encoding: str | None = None, delimiter: str | None = None):
        self.path = path
        self.encoding = detect_encoding(path, encoding)
        with path.open("r", encoding=self.encoding, newline="") as handle:
            sample = handle.read(SAMPLE_BYTES)
        lines = sample.splitlines()[:50]
        if not lines or not any(line.strip() for line in lines):
            raise UnreadableFileError("the file holds no text (only blank lines).")
        self.delimiter = delimiter or _detect_delimiter(lines[:20])
        self.header = self._read_header()
        self.info = SourceInfo(
            format="csv",
            header=self.header,
            encoding=self.encoding,
            delimiter=self.delimiter,
            progress_total=path.stat().st_size,
        )
        self.position = 0

    def _open(self):
        raw = _CountingReader(self.path.open("rb"))
        text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding=self.encoding, newline="")
        return raw, text

    def _read_header(self) -> list[str]:
        raw, text = self._open()
        with text:
            reader = csv.reader(text, delimiter=self.delimiter, strict=True)
            try:
                for row in reader:
                    if any(cell.strip() for cell in row):
                        return _clean_header(row, reader.line_num)
            except csv.Error as error:
                raise UnreadableFileError(f"the header row cannot be read: {error}.", line=reader.line_num) from None
        raise UnreadableFileError("the file holds no header row.")

    def records(self) -> Iterator[Record | RecordProblem]:
        """Every data record after the header, in file order; `position` follows the bytes read."""
        raw, text = self._open()
        width = len(self.header)
        with text:
            reader = csv.reader(text, delimiter=self.delimiter, strict=True)
            header_seen = False
            previous_line = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    start = previous_line + 1
                    previous_line = reader.line_num
                    self.position = raw.position
                    message = str(error)
                    if "field larger than field limit" in message:
                        message = f"a cell is longer than {MAX_CELL_CHARACTERS:,} characters"
                    elif "unexpected end of data" in message:
                        message = 'a quoted cell that starts in this record is never closed (a missing " character)'
                    else:
                        message = f"the quoting is malformed ({message})"
                    yield RecordProblem(line=start, message=message)
                    continue
                start = previous_line + 1
                previous_line = reader.line_num
                self.position = raw.position
                if header_seen and len(row) == width > 1:  # most rows (a row of one blank cell is skipped below)
                    yield Record(start, row)
                    continue
                if not header_seen:
                    if any(cell.strip() for cell in row):
                        header_seen = True
                    continue
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != width:
                    if len(row) > width and not any(cell.strip() for cell in row[width:]):
                        row = row[:width]
                    else:
                        yield RecordProblem(
                            line=start,
                            message=f"the row has {len(row)} fields where the header has {width}",
                            values=row,
                        )
                        continue
                yield Record(line=start, values=row)


def _clean_header(row: list[str], line: int) -> list[str]:
    header = [cell.strip() for cell in row]
    while header and not header[-1]:
        header.pop()
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            raise UnreadableFileError(f"column {index + 1} of the header has no name.", line=line)
        key = name.casefold()
        if key in seen:
            raise UnreadableFileError(
                f"the header names '{name}' twice (columns {seen[key] + 1} and {index + 1}).", line=line
            )
        seen[key] = index
    return header


def _cell_text(value) -> str:
    """An XLSX cell value as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


class XlsxSource:
    """The first (or named) worksheet of an XLSX workbook, read as records."""

    def __init__(self, path: Path, *, sheet: str | None = None):
        import zipfile

        from openpyxl import load_workbook

        self.path = path
        try:
            self.workbook = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
            raise UnreadableFileError(f"the workbook cannot be opened ({error}).") from None
        names = self.workbook.sheetnames
        if sheet and sheet not in names:
            raise UnreadableFileError(f"the workbook has no sheet '{sheet}'; it has {', '.join(names)}.")
        self.sheet = self.workbook[sheet or names[0]]
        self.header, self.header_line = self._read_header()
        self.info = SourceInfo(
            format="xlsx", header=self.header, sheet=self.sheet.title, progress_total=self.sheet.max_row or 0
        )
        self.position = 0

    def _read_header(self) -> tuple[list[str], int]:
        for number, row in enumerate(self.sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(value) for value in row]
            if any(cell.strip() for cell in cells):
                return _clean_header(cells, number), number
        raise UnreadableFileError(f"the sheet '{self.sheet.title}' is empty.")

    def records(self) -> Iterator[Record | RecordProblem]:
        width = len(self.header)
        rows = self.sheet.iter_rows(min_row=self.header_line + 1, values_only=True)
        for number, row in enumerate(rows, start=self.header_line + 1):
            self.position = number
            cells = [_cell_text(value) for value in row]
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > width:
                if any(cell.strip() for cell in cells[width:]):
                    yield RecordProblem(
                        line=number, message=f"the row has values beyond the {width} named columns", values=cells
                    )
                    continue
                cells = cells[:width]
            elif len(cells) < width:
                cells += [""] * (width - len(cells))
            yield Record(line=number, values=cells)


def open_source(
    path: str | Path, *, encoding: str | None = None, delimiter: str | None = None, sheet: str | None = None
):
    """Open an import file, detecting whether it is XLSX or CSV; raises UnreadableFileError."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(f"there is no file at {path}.")
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if head.startswith(XLSX_SIGNATURE):
        return XlsxSource(path, sheet=sheet)
    _check_not_binary(path, head)
    if delimiter is not None and delimiter not in DELIMITERS:
        names = ", ".join(f"{name} ({value!r})" for value, name in DELIMITERS.items())
        raise UnreadableFileError(f"the delimiter {delimiter!r} is not one of {names}.")
    return CsvSource(path, encoding=encoding, delimiter=delimiter)
