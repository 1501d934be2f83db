"""Reading path files, and `tandem attribution paths` on the published example."""

import io

import pytest
from django.core.management import CommandError, call_command

from tandem.attribution.path_files import PathFileError, read_paths

PUBLISHED = "path;total_conversions;total_conversion_value;total_null\nc1 > c2 > c3;1;100;0\nc1;0;0;1\nc2 > c3;0;0;1\n"


def test_a_path_file_becomes_aggregated_journeys():
    journeys = read_paths(io.StringIO("email > ads > email;3;420.5;12\n\nads;0;0;7\r\n"))
    assert journeys.channel_names == ["email", "ads"]
    assert journeys.channel.tolist() == [0, 1, 0, 1]
    assert journeys.offsets.tolist() == [0, 3, 4]
    assert journeys.conversions.tolist() == [3.0, 0.0]
    assert journeys.value.tolist() == [420.5, 0.0]
    assert journeys.nulls.tolist() == [12.0, 7.0]


def test_every_bad_line_is_named():
    text = (
        "path;total_conversions;total_conversion_value;total_null\n"
        "a > b;1;10\n"
        "a > > b;1;10;0\n"
        "a;x;10;0\n"
        "b;1;-5;0\n"
        "c;1;5;0\n"
    )
    with pytest.raises(PathFileError) as caught:
        read_paths(io.StringIO(text))
    assert caught.value.problems == [
        "line 2: expected 4 fields separated by ';' (path;total_conversions;total_conversion_value;total_null), got 3.",
        "line 3: the path has an empty channel name (channels are separated by ' > ').",
        "line 4: total_conversions must be a number, got 'x'.",
        "line 5: total_conversion_value must be a number of 0 or more, got '-5'.",
    ]


def test_an_empty_file_is_refused():
    with pytest.raises(PathFileError, match="holds no paths"):
        read_paths(io.StringIO("path;total_conversions;total_conversion_value;total_null\n"))


def test_the_command_reproduces_the_published_example_as_csv(tmp_path, capsys):
    paths = tmp_path / "paths.txt"
    paths.write_text(PUBLISHED)
    call_command("attribution", "paths", str(paths), "--model", "markov", "--format", "csv")
    assert capsys.readouterr().out == (
        "model,channel,conversions,value\nmarkov,c1,0.2,20\nmarkov,c2,0.4,40\nmarkov,c3,0.4,40\n"
    )


def test_the_command_prints_every_model_with_its_weights(tmp_path, capsys):
    paths = tmp_path / "paths.txt"
    paths.write_text(PUBLISHED)
    call_command("attribution", "paths", str(paths))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["MODEL", "CHANNEL", "CONVERSIONS", "VALUE"]
    assert lines[1].split() == ["first_touch", "c1", "1", "100"]
    assert lines[10].split() == ["u_shaped", "c1", "0.4", "40"]
    assert lines[11].split() == ["u_shaped", "c2", "0.2", "20"]
    assert lines[31].split() == ["markov", "c1", "0.2", "20"]
    assert lines[33].split() == ["markov", "c3", "0.4", "40"]
    assert "  u_shaped: 40% first touch, 40% last touch, 20% shared by the touches between." in out
    assert "    removal effects: c1 0.5, c2 1, c3 1" in out


def test_the_command_takes_the_markov_order(tmp_path, capsys):
    paths = tmp_path / "paths.txt"
    paths.write_text("a > b;1;10;0\nc > b;0;0;1\n")
    call_command("attribution", "paths", str(paths), "--model", "markov", "--order", "2", "--format", "csv")
    assert capsys.readouterr().out.splitlines()[1:] == ["markov,a,0.5,5", "markov,b,0.5,5", "markov,c,0,0"]


def test_the_command_names_the_bad_line_and_the_missing_file(tmp_path):
    paths = tmp_path / "paths.txt"
    paths.write_text("a > b;1;10;0\na;one;1;0\n")
    with pytest.raises(CommandError, match="line 2: total_conversions must be a number, got 'one'"):
        call_command("attribution", "paths", str(paths))
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("attribution", "paths", str(tmp_path / "missing.txt"))
    with pytest.raises(CommandError, match="--order: expected 1 to 3, got 5"):
        call_command("attribution", "paths", str(paths), "--order", "5")


def test_the_tandem_command_line_reproduces_the_published_example(tmp_path):
    import subprocess
    import sys

    paths = tmp_path / "paths.txt"
    paths.write_text(PUBLISHED)
    finished = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tandem.cli", "attribution", "paths", str(paths), "--format", "csv"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines()[-3:] == ["markov,c1,0.2,20", "markov,c2,0.4,40", "markov,c3,0.4,40"]
    assert len(finished.stdout.splitlines()) == 1 + 11 * 3
