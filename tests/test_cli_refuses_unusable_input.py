"""Every unusable command line is one line on stderr and exit 2: nothing sent, no file changed,
no hang, no traceback-like "unexpected …".

The classes: every numeric option (nan, inf, out of range, absurdly small or large, not a
number at all) of every command; every SOURCE that is neither a regular readable file nor
a Google Sheet link (a folder, a named pipe, a device, a file:// or other URL, a web page,
an empty or 100 KB argument). Options run in process (fast); sources that could hang or
eat memory on a regression run as a bounded subprocess.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
from pathlib import Path

import pytest

from lib import cli
from lib.sandbox import Sandbox
from tests.support import CLI, cli_env, posts

HEADER = ["First Name", "Last Name", "Email", "Approved"]


@pytest.fixture
def workdir(make_sandbox, tmp_path, monkeypatch) -> tuple[Sandbox, Path, bytes]:
    """A sandbox, the CLI's environment pointing at it, and a sendable list.csv in the cwd."""
    sb = make_sandbox()
    for name, value in cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0]).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "list.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([HEADER, ["Ana", "Bauer", "ana@example.com", "yes"]])
    return sb, tmp_path, (tmp_path / "list.csv").read_bytes()


def in_process(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse refuses by exiting
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, words: str) -> None:
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert words in err, err
    assert "unexpected" not in err and "Traceback" not in out + err


NUMERIC = [
    (["send", "list.csv", "--lookback", "99999999999d"], "longer than 36,500 days"),
    (["send", "list.csv", "--lookback", "1" + "0" * 5000 + "d"], "longer than 36,500 days"),
    *[
        (["send", "list.csv", "--rate", v], "argument --rate")
        for v in ("nan", "inf", "-inf", "1e-300", "0", "-1", "1e400", "fast", "")
    ],
    *[
        (["send", "list.csv", "--concurrency", v], "argument --concurrency")
        for v in ("0", "-3", "100000", "1.5", "nan", "1e9")
    ],
    *[(["status", "list.csv", "--rate", v], "argument --rate") for v in ("nan", "inf", "1e-300", "0")],
    *[(["webhooks", "--port", v], "argument --port") for v in ("0", "-1", "65536", "99999999999999999999", "http")],
    *[
        (["sandbox", *pair], f"argument {pair[0]}")
        for pair in (
            ("--port", "65536"),
            ("--port", "-5"),
            ("--latency", "nan"),
            ("--latency", "-1"),
            ("--latency", "1e9"),
            ("--rate-limit", "inf"),
            ("--rate-limit", "0"),
            ("--p503", "1.5"),
            ("--p503", "nan"),
            ("--p500-after-create", "-0.1"),
            ("--p-hang", "2"),
            ("--hang-seconds", "inf"),
            ("--speed", "0"),
            ("--speed", "nan"),
            ("--seed", "-1"),
            ("--seed", "1.5"),
        )
    ],
]


@pytest.mark.parametrize("argv, words", NUMERIC, ids=[" ".join(a)[:60] for a, _w in NUMERIC])
def test_every_unusable_number_is_refused_in_one_line(workdir, capsys, argv, words):
    sb, tmp, before = workdir
    code, out, err = in_process(argv, capsys)
    assert_refused(code, out, err, words)
    assert posts(sb) == [] and (tmp / "list.csv").read_bytes() == before


@pytest.mark.usefixtures("store_backend")
def test_the_limits_are_inclusive_and_one_step_beyond_is_refused(workdir, capsys):
    sb, tmp, _before = workdir
    code, out, err = in_process(
        ["send", "list.csv", "--rate", "0.1", "--concurrency", "64", "--lookback", "36500d", "--dry-run"], capsys
    )
    assert code == 0, err
    assert "1 to send" in out
    for beyond in (["--rate", "0.09"], ["--rate", "1000.5"], ["--concurrency", "65"], ["--lookback", "36501d"]):
        code, out, err = in_process(["send", "list.csv", *beyond, "--dry-run"], capsys)
        assert_refused(code, out, err, "")
    assert posts(sb) == []


def _limited_memory() -> None:  # a regression reading /dev/zero must fail fast, not take the machine
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _sources(tmp: Path) -> list[tuple[str, str]]:
    (tmp / "folder.csv").mkdir()
    return [
        ("/dev/null", "is a device, not a CSV file"),
        ("folder.csv", "is a folder, not a CSV file"),
        (".", "is a folder, not a CSV file"),
        (f"file://{tmp / 'list.csv'}", f"is a file URL: give the file's path instead ({tmp / 'list.csv'})"),
        ("FILE:///tmp/x%20y.csv", "give the file's path instead (/tmp/x y.csv)"),
        ("https://example.com/list.csv", "is a web address but not a Google Sheet link"),
        ("ftp://example.com/list.csv", "ftp:// addresses are not read"),
        ("https://docs.google.com/spreadsheets/d/" + "k" * 100_000 + "/edit", "SOURCE is 100,"),
        ("x" * 5000 + ".csv", "SOURCE is 5,004 characters long"),
        ("b" * 300 + ".csv", "Cannot open"),  # a file name longer than the system allows
        ("", "SOURCE is empty"),
        ("   ", "SOURCE is empty"),
        ("no-such-file.csv", "File not found: no-such-file.csv"),
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("command", ["send", "status"])
def test_every_source_that_is_not_a_file_or_a_sheet_is_refused(workdir, capsys, command):
    sb, tmp, before = workdir
    failures = []
    for source, words in _sources(tmp):
        code, out, err = in_process([command, source], capsys)
        try:
            assert_refused(code, out, err, words)
        except AssertionError:
            failures.append((source[:60], code, err[-300:]))
    assert failures == []
    assert posts(sb) == [] and (tmp / "list.csv").read_bytes() == before


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("command", [["send"], ["send", "--dry-run"], ["status"]])
@pytest.mark.parametrize("kind", ["pipe", "/dev/zero"])
def test_a_pipe_or_a_device_is_refused_without_reading_it(make_sandbox, tmp_path, command, kind):
    """Run apart, with a deadline and a memory ceiling: reading either would never end."""
    sb = make_sandbox()
    source = kind
    if kind == "pipe":
        os.mkfifo(tmp_path / "list.csv")
        source = "list.csv"
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    try:
        proc = subprocess.run(
            [*CLI, command[0], source, *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limited_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind}: the CLI hung reading it")
    words = "is a named pipe, not a CSV file" if kind == "pipe" else "is a device, not a CSV file"
    assert_refused(proc.returncode, proc.stdout, proc.stderr, words)
    assert posts(sb) == []
