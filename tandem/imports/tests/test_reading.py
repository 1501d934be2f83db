import codecs

import pytest
from openpyxl import Workbook

from tandem.imports.reading import MAX_CELL_CHARACTERS, Record, RecordProblem, UnreadableFileError, open_source


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def records(source):
    return list(source.records())


def test_utf8_comma_file_is_read_with_its_line_numbers(tmp_path):
    source = open_source(write(tmp_path / "a.csv", "Email,Name\nann@acme.com,Ann Müller\nbo@acme.com,Bo\n".encode()))
    assert source.info.encoding == "utf-8"
    assert source.info.delimiter == ","
    assert source.info.header == ["Email", "Name"]
    assert [(r.line, r.values) for r in records(source)] == [
        (2, ["ann@acme.com", "Ann Müller"]),
        (3, ["bo@acme.com", "Bo"]),
    ]


def test_utf8_with_bom_semicolons_are_detected(tmp_path):
    data = codecs.BOM_UTF8 + "Email;Name\nann@acme.com;Ann Müller\n".encode()
    source = open_source(write(tmp_path / "a.csv", data))
    assert (source.info.encoding, source.info.delimiter) == ("utf-8-sig", ";")
    assert source.info.header == ["Email", "Name"]
    assert records(source)[0].values == ["ann@acme.com", "Ann Müller"]


def test_windows_1252_tab_file_is_detected(tmp_path):
    data = "Email\tName\tNote\nann@acme.com\tRenée\t€5\n".encode("cp1252")
    source = open_source(write(tmp_path / "a.tsv", data))
    assert (source.info.encoding, source.info.delimiter) == ("cp1252", "\t")
    assert records(source)[0].values == ["ann@acme.com", "Renée", "€5"]


def test_utf16_with_bom_is_read(tmp_path):
    source = open_source(write(tmp_path / "a.csv", "Email\tName\nann@acme.com\tZoë\n".encode("utf-16")))
    assert source.info.encoding == "utf-16"
    assert records(source)[0].values == ["ann@acme.com", "Zoë"]


def test_a_file_mixing_utf8_and_latin1_is_refused_naming_the_line(tmp_path):
    data = "Email,Name\nann@acme.com,Ann Müller\n".encode() + "bo@acme.com,Renée\n".encode("latin-1")
    with pytest.raises(UnreadableFileError) as error:
        open_source(write(tmp_path / "a.csv", data))
    assert error.value.line == 3
    assert "mixes two encodings" in str(error.value)


def test_a_named_encoding_that_does_not_fit_is_refused_naming_the_line(tmp_path):
    path = write(tmp_path / "a.csv", "Email,Name\nann@acme.com,Ann\nbo@acme.com,Renée\n".encode("latin-1"))
    with pytest.raises(UnreadableFileError) as error:
        open_source(path, encoding="utf-8")
    assert str(error.value) == "line 3: the bytes here are not valid utf-8 text."
    with pytest.raises(UnreadableFileError, match="'klingon' is not a text encoding"):
        open_source(path, encoding="klingon")


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(UnreadableFileError, match="the file is empty"):
        open_source(write(tmp_path / "a.csv", b""))


def test_blank_lines_only_are_refused(tmp_path):
    with pytest.raises(UnreadableFileError, match="only blank lines"):
        open_source(write(tmp_path / "a.csv", b"\n\n  \n"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old-style Excel"),
        (b"abc\x00\x01\x02def", "binary file"),
    ],
)
def test_binary_files_are_refused_saying_what_they_are(tmp_path, data, message):
    with pytest.raises(UnreadableFileError, match=message):
        open_source(write(tmp_path / "a.csv", data))


def test_header_naming_a_column_twice_is_refused(tmp_path):
    with pytest.raises(UnreadableFileError) as error:
        open_source(write(tmp_path / "a.csv", b"Email,Name,email\na,b,c\n"))
    assert str(error.value) == "line 1: the header names 'email' twice (columns 1 and 3)."


def test_header_with_an_unnamed_column_is_refused(tmp_path):
    with pytest.raises(UnreadableFileError, match="column 2 of the header has no name"):
        open_source(write(tmp_path / "a.csv", b"Email,,Name\na,b,c\n"))


def test_rows_with_too_many_or_too_few_fields_are_problems_with_their_line(tmp_path):
    source = open_source(write(tmp_path / "a.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12,,\n"))
    result = records(source)
    assert isinstance(result[0], Record)
    assert (result[1].line, result[1].message) == (3, "the row has 2 fields where the header has 3")
    assert (result[2].line, result[2].message) == (4, "the row has 4 fields where the header has 3")
    # Empty cells beyond the header lose nothing, so the row is read.
    assert (result[3].line, result[3].values) == (5, ["10", "11", "12"])


def test_malformed_quoting_is_a_problem_of_that_record_only(tmp_path):
    source = open_source(write(tmp_path / "a.csv", b'a,b\n1,"x"y\n3,4\n'))
    result = records(source)
    assert isinstance(result[0], RecordProblem)
    assert result[0].line == 2
    assert "quoting is malformed" in result[0].message
    assert (result[1].line, result[1].values) == (3, ["3", "4"])


def test_an_unclosed_quote_is_reported_at_the_line_it_opens(tmp_path):
    source = open_source(write(tmp_path / "a.csv", b'a,b\n1,2\n3,"never closed\n5,6\n'))
    result = records(source)
    assert result[0].values == ["1", "2"]
    assert isinstance(result[1], RecordProblem)
    assert result[1].line == 3
    assert "never closed" in result[1].message


def test_quoted_cells_may_span_lines_and_line_numbers_follow(tmp_path):
    source = open_source(write(tmp_path / "a.csv", b'a,b\n1,"two\nlines"\n3,4\n'))
    assert [(r.line, r.values) for r in records(source)] == [(2, ["1", "two\nlines"]), (4, ["3", "4"])]


def test_mixed_line_endings_are_all_read(tmp_path):
    source = open_source(write(tmp_path / "a.csv", b"a,b\r\n1,2\n3,4\r5,6\r\n"))
    assert [r.values for r in records(source)] == [["1", "2"], ["3", "4"], ["5", "6"]]


def test_a_10_mb_cell_is_a_problem_of_its_row_and_the_next_rows_are_read(tmp_path):
    big = b"x" * (10 * 1024 * 1024)
    source = open_source(write(tmp_path / "a.csv", b"a,b\n1,2\n3," + big + b"\n5,6\n"))
    result = records(source)
    assert result[0].values == ["1", "2"]
    assert isinstance(result[1], RecordProblem)
    assert result[1].line == 3
    assert result[1].message == f"a cell is longer than {MAX_CELL_CHARACTERS:,} characters"
    assert result[-1].values == ["5", "6"]


def test_xlsx_rows_come_out_as_text(tmp_path):
    import datetime as dt

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Deals"
    sheet.append(["Deal Name", "Amount", "Close Date", "Won"])
    sheet.append(["Big deal", 1200.0, dt.datetime(2025, 3, 1), True])
    sheet.append([None, None, None, None])
    sheet.append(["Small deal", 99.5, dt.datetime(2025, 3, 2, 14, 30), False])
    workbook.save(tmp_path / "deals.xlsx")
    source = open_source(tmp_path / "deals.xlsx")
    assert source.info.format == "xlsx"
    assert source.info.header == ["Deal Name", "Amount", "Close Date", "Won"]
    assert [(r.line, r.values) for r in records(source)] == [
        (2, ["Big deal", "1200", "2025-03-01", "true"]),
        (4, ["Small deal", "99.5", "2025-03-02 14:30:00", "false"]),
    ]
    with pytest.raises(UnreadableFileError, match="has no sheet 'Nope'; it has Deals"):
        open_source(tmp_path / "deals.xlsx", sheet="Nope")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(UnreadableFileError, match="there is no file at"):
        open_source(tmp_path / "nope.csv")
