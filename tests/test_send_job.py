"""One send use-case (lib/send_job.py) for the CLI and Review & send: what it reviews, what
the run it builds sends and writes first, and that both callers go through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from lib import eligibility as elig
from lib.andopen import AndOpenClient
from lib.guardrails import RunLimits
from lib.models import SendState
from lib.runtime import http_session
from lib.send_job import SendChoices, prepare_send
from lib.sending import FLUSH_INTERVAL, SHEET_FLUSH_INTERVAL
from lib.sources import prepare
from lib.writeback import GIFT_REQUEST_ID, SEND_ERROR
from tests.support import RecordingSink, posts
from tests.test_sending import client_for

ROOT = Path(__file__).resolve().parent.parent


def a_list() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "First Name": ["Ana", "Bo", "Cy", "Di", "Ed"],
            "Last Name": ["Lopez", "Ng", "Oh", "Moss", "King"],
            "Email": ["ana@example.com", "bo@example.com", "not-an-email", "di@example.com", "ed@example.com"],
            "Approved": ["yes", "no", "yes", "yes", "yes"],
        }
    )


def test_the_run_sends_exactly_the_reviewed_plan_and_writes_why_others_skip_first(make_sandbox, store):
    sb = make_sandbox()
    loaded = prepare(a_list(), list_key="job", name="job.csv")
    store.record_outcome("job", "di@example.com", SendState.SENT, gift_request_id="gr_earlier", redemption_url=None)
    prepared = prepare_send(
        loaded,
        store,
        SendChoices(sb.campaign_ids[0], "tester", elig.parse_window("30d"), RunLimits(max_gifts=5), rate=50.0),
    )
    counts = prepared.plan.counts()
    assert (counts["send"], counts["not approved"], counts["invalid"], counts["already sent"]) == (2, 1, 1, 1)

    sink = RecordingSink()
    client = client_for(sb)
    run = prepared.new_run(client, store, sink, to_sheet=False)
    run.begin()
    run.write_preamble()
    first = {r.row_key: r.values for r in sink.batches[0]}
    assert posts(sb) == []  # written before anyone is sent
    assert "not-an-email" in first["2"][SEND_ERROR]
    assert first["3"][GIFT_REQUEST_ID] == "gr_earlier"  # the journal's gift comes back before any send
    progress = run.execute()
    assert progress.sent == 2
    assert sorted(sb.gifts_by_email()) == ["ana@example.com", "ed@example.com"]


@pytest.mark.parametrize("to_sheet,interval", [(False, FLUSH_INTERVAL), (True, SHEET_FLUSH_INTERVAL)])
def test_a_sheet_is_written_less_often_than_a_file(store, to_sheet, interval):
    loaded = prepare(a_list(), list_key="job", name="job.csv")
    prepared = prepare_send(loaded, store, SendChoices("cmp", "tester", None))
    client = AndOpenClient(http_session(), "ao-v1-test", "http://127.0.0.1:9", timeout=(1.0, 1.0))
    run = prepared.new_run(client, store, RecordingSink(), to_sheet=to_sheet)
    assert run.flush_interval == interval
    assert run.lookback_days is not None  # look-back off is NO_LOOKBACK, not "forever"


def test_the_users_own_result_values_are_found_before_the_frame_is_replaced(store):
    frame = a_list().assign(**{"Sent at": ["", "", "", "", "2026-01-01"]})
    loaded = prepare(frame, list_key="job", name="job.csv")
    prepared = prepare_send(loaded, store, SendChoices("cmp", "tester", None))
    assert [o.column for o in prepared.overwrites] == ["Sent at"]


@pytest.mark.parametrize("path", ["lib/cli/send.py", "ui/send_ui.py"])
def test_the_cli_and_the_page_send_through_the_one_use_case(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    called = {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }
    assert "prepare_send" in called and "new_run" in called
    assert "SendRun" not in called, f"{path} builds its own run"
