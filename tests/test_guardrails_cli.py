"""Issue 14's "done when", as cron or a person at a shell runs it: `python -m lib.cli` subprocesses,
real CSVs, the sandbox on 127.0.0.1, the store in GIFTRUN_DATA_DIR (SQLite or PostgreSQL).

`--max-gifts 10` on 30 approved rows sends exactly 10 and the other 20 say why; with
GIFTRUN_DAILY_LIMIT=15 two runs of 10 send 15 and the second says the daily limit stopped it
(exit 1); the do-not-gift list blocks a domain (and its subdomains) and a person, each blocked row
says why, and after `remove` the next run sends to that person. Every refusal is one line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lib.models import normalize_email
from tests.support import cli_env, gift_counts, run_cli

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

TIMEOUT = 120


def write_list(path: Path, emails: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "Email", "Approved"])
        w.writerows([f"First{i}", f"Last{i}", e, "yes"] for i, e in enumerate(emails))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def cli(tmp_path, make_sandbox):
    sb = make_sandbox()
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])

    def run(*args: str, **extra_env: str):
        return run_cli(tmp_path, {**env, **extra_env}, *args, timeout=TIMEOUT)

    run.sandbox = sb
    return run


@pytest.mark.slow
def test_max_gifts_10_on_30_approved_rows_sends_exactly_10_and_the_other_20_say_why(tmp_path, cli):
    write_list(tmp_path / "list.csv", [f"p{i}@example.com" for i in range(30)])
    before = (tmp_path / "list.csv").read_bytes()
    dry = cli("send", "list.csv", "--max-gifts", "10", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Cap for this run: at most 10 gifts; 20 of the 30 rows to send will not be sent" in dry.stdout
    assert "Daily limit: none (GIFTRUN_DAILY_LIMIT is not set)." in dry.stdout
    assert dry.stdout.count(": not sent — beyond this run's cap of 10 gifts") == 20
    assert (tmp_path / "list.csv").read_bytes() == before and not gift_counts(cli.sandbox)

    done = cli("send", "list.csv", "--max-gifts", "10")
    assert done.returncode == 0, done.stderr
    assert "20 approved rows were not sent: this run's limit of 10 gifts was reached." in done.stdout
    rows = read_rows(tmp_path / "list.csv")
    sent = [r for r in rows if r["Gift request ID"]]
    assert len(sent) == 10 and sum(gift_counts(cli.sandbox).values()) == 10
    assert [r["Send error"] for r in rows if not r["Gift request ID"]] == [
        "Not sent: this run's limit of 10 gifts was reached."
    ] * 20

    again = cli("send", "list.csv", "--max-gifts", "10")  # the next run sends the next 10
    assert again.returncode == 0 and sum(gift_counts(cli.sandbox).values()) == 20


@pytest.mark.slow
def test_with_a_daily_limit_of_15_two_runs_of_10_send_15_and_the_second_says_the_limit_stopped_it(tmp_path, cli):
    write_list(tmp_path / "one.csv", [f"one{i}@example.com" for i in range(10)])
    write_list(tmp_path / "two.csv", [f"two{i}@example.com" for i in range(10)])
    first = cli("send", "one.csv", GIFTRUN_DAILY_LIMIT="15")
    assert first.returncode == 0, first.stderr
    dry = cli("send", "two.csv", "--dry-run", GIFTRUN_DAILY_LIMIT="15")
    assert "15 gifts in any 24 hours across the team; 10 sent in the last 24 hours, 5 left now" in dry.stdout
    assert "This run will stop at the daily limit after 5 of its 10 gifts." in dry.stdout
    second = cli("send", "two.csv", GIFTRUN_DAILY_LIMIT="15")
    assert second.returncode == 1, second.stdout + second.stderr
    assert (
        "Run stopped: Stopped at the team's daily limit: 15 gifts in any 24 hours (GIFTRUN_DAILY_LIMIT)"
        in second.stdout
    )
    assert "Room frees up at " in second.stdout
    assert sum(gift_counts(cli.sandbox).values()) == 15
    rows = read_rows(tmp_path / "two.csv")
    assert sum(bool(r["Gift request ID"]) for r in rows) == 5
    assert all(
        r["Send error"].startswith("Not sent: the team's daily limit of 15 gifts in 24 hours was reached.")
        for r in rows
        if not r["Gift request ID"]
    )


@pytest.mark.slow
def test_the_do_not_gift_list_blocks_a_domain_and_a_person_until_the_person_is_removed(tmp_path, cli):
    assert cli("do-not-gift", "add", "@rival.example", "--reason", "competitor").returncode == 0
    added = cli("do-not-gift", "add", "vip0@example.com", "--actor", "maria@team")
    assert added.returncode == 0 and "Added vip0@example.com." in added.stdout
    blocked = ["vip0@example.com", "ana@rival.example", "bo@EU.Rival.example", "CY@RIVAL.EXAMPLE"]
    others = ["vip1@example.com", "dee@notrival.example", "eve@rival.example.org"]
    write_list(tmp_path / "list.csv", blocked + others)
    done = cli("send", "list.csv")
    assert done.returncode == 0, done.stderr
    assert "4 on the do-not-gift list" in done.stdout
    gifted = set(gift_counts(cli.sandbox))
    assert gifted == {normalize_email(e) for e in others}
    for r in read_rows(tmp_path / "list.csv"):
        if r["Email"] in blocked:
            assert (r["Eligibility"], r["Gift request ID"]) == ("skip", "")
            # an ASCII file gets Giftrun's text in ASCII ("—" written as "-"): the user's encoding is kept
            assert r["Skip reason"].startswith(
                "On the do-not-gift list: "
                + (
                    "vip0@example.com - added by maria@team"
                    if r["Email"] == "vip0@example.com"
                    else "@rival.example (competitor) - added by cli"
                )
            )
    listed = cli("do-not-gift", "list")
    assert "2 entries on the do-not-gift list" in listed.stdout and "competitor" in listed.stdout

    removed = cli("do-not-gift", "remove", "VIP0@Example.com", "--actor", "lee@team")
    assert removed.returncode == 0 and "Removed vip0@example.com (added by maria@team" in removed.stdout
    again = cli("send", "list.csv")
    assert again.returncode == 0, again.stderr
    assert set(gift_counts(cli.sandbox)) == {normalize_email(e) for e in others} | {"vip0@example.com"}
    row = next(r for r in read_rows(tmp_path / "list.csv") if r["Email"] == "vip0@example.com")
    assert (row["Eligibility"], row["Skip reason"], bool(row["Gift request ID"])) == ("eligible", "", True)


@pytest.mark.slow
def test_do_not_gift_import_is_all_or_nothing(tmp_path, cli):
    (tmp_path / "bad.csv").write_text("Email,Reason\nceo@customer.example,customer\n@com,tld\nbad@,x\n")
    bad = cli("do-not-gift", "import", "bad.csv")
    assert bad.returncode == 2
    assert "row 3: '@com' is a top-level domain" in bad.stdout and "row 4: 'bad@' is not a valid email" in bad.stdout
    assert "Nothing imported: 2 rows of bad.csv cannot be entries. Fix them and import again." in bad.stderr
    assert "0 entries" in cli("do-not-gift", "list").stdout
    (tmp_path / "good.csv").write_text("Domain,Why\n@gov.example,policy\nRIVAL.example,competitor\n")
    good = cli("do-not-gift", "import", "good.csv")
    assert good.returncode == 0 and "Imported good.csv: 2 added, 0 reasons changed, 0 already listed." in good.stdout
    assert (
        cli("do-not-gift", "import", "good.csv")
        .stdout.strip()
        .endswith("0 added, 0 reasons changed, 2 already listed.")
    )


@pytest.mark.parametrize(
    "args, env, words",
    [
        (("do-not-gift", "add", "@com"), {}, "'@com' is a top-level domain"),
        (("do-not-gift", "add", "ana@"), {}, "'ana@' is not a valid email address"),
        (
            ("do-not-gift", "add", "@rival.example", "--reason", "a\x1b[2Jb"),
            {},
            "The reason contains a control character",
        ),
        (("do-not-gift", "remove", "nobody@example.com"), {}, "nobody@example.com is not on the do-not-gift list"),
        (("do-not-gift", "import", "missing.csv"), {}, "File not found: missing.csv"),
        (("send", "list.csv", "--max-gifts", "0"), {}, "'0' is not allowed: give a whole number from 1 to 1e+06"),
        (("send", "list.csv", "--max-gifts", "ten"), {}, "'ten' is not allowed"),
        (("send", "list.csv"), {"GIFTRUN_DAILY_LIMIT": "lots"}, "GIFTRUN_DAILY_LIMIT is 'lots': give a whole number"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(tmp_path, cli, args, env, words):
    write_list(tmp_path / "list.csv", ["a@example.com"])
    proc = cli(*args, **env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout
    assert not gift_counts(cli.sandbox)
