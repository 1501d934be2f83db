"""The `tandem` command and `tandem serve`."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import django.core.management
import pytest

from tandem import cli

REPOSITORY = Path(__file__).resolve().parents[3]


def test_help_lists_every_subcommand_with_one_line(capsys):
    assert cli.main(["--help"]) == 0

    lines = capsys.readouterr().out.splitlines()
    described = {line.split()[0]: line for line in lines if line.startswith("  ")}
    for name in ["serve", "migrate", "demo", "user", "token", "manage"]:
        assert len(described[name].split()) > 3, described[name]


def test_an_unknown_subcommand_is_refused_with_the_list(capsys):
    assert cli.main(["frobnicate"]) == 2

    error = capsys.readouterr().err
    assert error.startswith("tandem: unknown command 'frobnicate'.")
    assert "  serve " in error


@pytest.mark.parametrize(
    ("arguments", "django_argv"),
    [
        (
            ["user", "create", "--email", "a@b.co"],
            ["tandem", "user", "create", "--email", "a@b.co"],
        ),
        (["token", "list"], ["tandem", "token", "list"]),
        (["migrate", "--plan"], ["tandem", "migrate", "--plan"]),
        (["serve", "--port", "9000"], ["tandem", "serve", "--port", "9000"]),
        (["manage", "user", "create"], ["tandem manage", "user", "create"]),
        (["manage", "check"], ["tandem manage", "check"]),
    ],
)
def test_subcommands_run_the_management_command_of_that_name(monkeypatch, arguments, django_argv):
    calls = []
    monkeypatch.setattr(django.core.management, "execute_from_command_line", calls.append)

    assert cli.main(arguments) == 0

    assert calls == [django_argv]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds child processes through /proc")
def test_serve_runs_the_web_server_and_worker_and_stops_both_on_sigterm(tmp_path):
    port = _free_port()
    environment = {**os.environ, "TANDEM_DATA_DIR": str(tmp_path), "TANDEM_WORKERS": "1"}
    environment.pop("DATABASE_URL", None)
    environment.pop("REDIS_URL", None)
    output = tmp_path / "serve.out"
    with output.open("w") as out:
        serve = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tandem.cli", "serve", "--port", str(port), "--workers", "1"],
            cwd=REPOSITORY, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Tandem is running at" not in output.read_text():
            assert serve.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        try:
            # The first request imports every app in the web worker; a busy machine may take a while.
            status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).status  # noqa: S310
        except urllib.error.HTTPError as error:
            status = error.code
        children = _children_of(serve.pid)

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, output.read_text()
    finally:
        if serve.poll() is None:
            # A failed test must not leave the web server or the worker behind: stop the whole group.
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()

    text = output.read_text()
    assert f"Tandem is running at http://127.0.0.1:{port}/" in text
    assert "Tandem stopped." in text
    assert status < 500, text
    assert len(children) == 2
    assert not [pid for pid in children if _is_running(pid)]
    assert (tmp_path / "tandem.sqlite3").exists()
