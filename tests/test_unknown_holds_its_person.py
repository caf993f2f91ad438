"""An unknown outcome holds its person in every list and with any look-back, the look-back off
included, until &Open's update resolves it or a person clears it: a send whose answer was lost
may have created a gift, and only &Open knows. Planning (the dry run, the CLI's summary, Review &
send) shows the row as blocked with the reason and how to clear it (`--clear-unknown`), and the
claim refuses it too (a send from another list that goes unknown while this run is going)."""

from __future__ import annotations

import pytest

from lib import eligibility as elig
from lib.models import Recipient, SendState
from lib.plan import RowAction
from lib.review import review
from lib.sources import load_csv_path
from lib.store import NO_LOOKBACK, Refusal
from tests.support import cli_env, cli_in_process, gift_counts, posted_email, posts, write_people

pytestmark = pytest.mark.usefixtures("store_backend")

ANA = Recipient("Ana", "Bauer", "ana@example.com")
PEOPLE = [["Ana", "Bauer", "ana@example.com", "yes"], ["Bo", "Kim", "bo@example.com", "yes"]]


def write_list(path, rows=PEOPLE) -> None:
    write_people(path, rows)


def unknown_in(store, list_key: str, state: SendState = SendState.UNKNOWN, days_ago: int = 0) -> None:
    """A send of ANA from `list_key` whose answer was lost (ATTEMPTING: of a run that died, which no
    one has marked unknown yet)."""
    assert store.claim(list_key, ANA, row_key="0", campaign_id="c", run_id="run-a").claimed
    if state == SendState.UNKNOWN:
        store.record_outcome(list_key, ANA.email, SendState.UNKNOWN, error="timed out")
    if days_ago:
        with store.db.write() as conn:
            store.db.execute(
                conn,
                f"UPDATE {store.db.table('sends')} SET attempted_at=:t WHERE list_key=:l",
                {"t": f"2020-01-{days_ago:02d}T00:00:00.000Z", "l": list_key},
            )


# (id, look-back, held state, the attempt's age in days: 0 now, else long before any window)
CASES = [
    ("off-unknown", "off", SendState.UNKNOWN, 0),
    ("off-run-died-mid-request", "off", SendState.ATTEMPTING, 0),
    ("30d-unknown-from-long-ago", "30d", SendState.UNKNOWN, 1),
    ("12m-unknown-from-long-ago", "12m", SendState.UNKNOWN, 2),
    ("forever-unknown", "forever", SendState.UNKNOWN, 0),
    ("30d-run-died-mid-request", "30d", SendState.ATTEMPTING, 0),
]


@pytest.mark.parametrize("lookback, state, days_ago", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_review_of_another_list_blocks_the_person_and_says_how_to_clear(store, tmp_path, lookback, state, days_ago):
    unknown_in(store, "list-a", state, days_ago)
    write_list(tmp_path / "copy.csv")
    rev = review(load_csv_path(tmp_path / "copy.csv"), store, elig.parse_window(lookback))
    ana, bo = rev.plan.rows
    assert ana.action == RowAction.BLOCKED, ana
    assert "may already have a gift" in ana.message and "--clear-unknown ana@example.com" in ana.message
    assert bo.action == RowAction.SEND
    assert [i.recipient.email for i in rev.plan.items] == ["bo@example.com"]


@pytest.mark.parametrize("lookback_since", [NO_LOOKBACK, "2099-01-01T00:00:00.000Z"], ids=["off", "window-after-it"])
@pytest.mark.parametrize("days_ago", [0, 3])
def test_the_claim_refuses_a_person_another_list_may_have_gifted(store, lookback_since, days_ago):
    unknown_in(store, "list-a", SendState.UNKNOWN, days_ago)
    claim = store.claim("list-b", ANA, row_key="0", campaign_id="c", run_id="run-b", lookback_since=lookback_since)
    assert not claim.claimed and claim.refusal == Refusal.UNKNOWN_ELSEWHERE, claim
    assert "--clear-unknown" in claim.reason


def test_clearing_the_unknown_outcome_releases_the_person_in_every_list(store, tmp_path):
    unknown_in(store, "list-a")
    assert store.clear_unknown("list-b", ANA.email, "ops@example.com", every_list=True)
    assert "ana@example.com" not in store.journal("list-a")
    assert store.claim("list-b", ANA, row_key="0", campaign_id="c", run_id="run-b").claimed
    assert [a["list_key"] for a in store.audit_log() if a["action"] == "clear-unknown"] == ["list-a"]


def test_the_cli_holds_the_person_with_the_look_back_off_until_cleared(tmp_path, make_sandbox):
    sb = make_sandbox()
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    write_list(tmp_path / "a.csv", PEOPLE[:1])
    write_list(tmp_path / "b.csv")
    sb.faults.error_500_after_create = 1.0  # &Open creates the gift, the answer is a 500: unknown
    first = cli_in_process(tmp_path, env, "send", "a.csv")
    assert first.returncode == 0 and "unknown outcome 1" in first.stdout, first.stdout
    sb.faults.error_500_after_create = 0.0

    dry = cli_in_process(tmp_path, env, "send", "b.csv", "--lookback", "off", "--dry-run")
    assert "row 2 ana@example.com: blocked — Held: a send to this person from another list" in dry.stdout, dry.stdout
    assert "--clear-unknown ana@example.com" in dry.stdout
    second = cli_in_process(tmp_path, env, "send", "b.csv", "--lookback", "off")
    assert second.returncode == 0, second.stderr
    assert gift_counts(sb) == {"ana@example.com": 1, "bo@example.com": 1}, "ana was planned again"

    cleared = cli_in_process(tmp_path, env, "send", "b.csv", "--lookback", "off", "--clear-unknown", "ana@example.com")
    assert "Cleared the unknown outcome for ana@example.com" in cleared.stdout, cleared.stdout
    assert [posted_email(p) for p in posts(sb)][-1] == "ana@example.com", "cleared by a person: sent"
