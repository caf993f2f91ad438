"""lib.plan decides each row once (send, or why not) from the checked rows and the send
journal, and writes results back onto a copy of the user's frame by row key."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.models import SendState, normalize_email
from lib.plan import Eligibility, RowAction, apply_results, eligibility_results, plan_rows
from lib.recipients import check_rows, match_columns
from lib.sending import UNKNOWN_MESSAGE
from lib.store import JournalEntry
from lib.writeback import ELIGIBILITY, GIFT_REQUEST_ID, REDEMPTION_URL, SEND_ERROR, SENT_AT, SKIP_REASON, RowResult

A = "alice@example.com"
B = "bob@example.com"


def frame(*rows: tuple) -> pd.DataFrame:
    """Rows of (first, last, email, approved), as a user's sheet would hold them."""
    return pd.DataFrame(rows, columns=["First Name", "Last Name", "Email", "Approved"])


def checks(df: pd.DataFrame):
    return check_rows(df, match_columns(list(df.columns)))


def row(email: str = A, approved: bool = True, first: str = "Alice", last: str = "Smith") -> tuple:
    return (first, last, email, approved)


def entry(state: SendState, row_key: str | None = "0", email: str = A) -> JournalEntry:
    sent = state == SendState.SENT
    return JournalEntry(
        list_key="L",
        email=email,
        state=state,
        run_id="run-1",
        row_key=row_key,
        gift_request_id="g-1" if sent else None,
        redemption_url="https://gift/r/1" if sent else None,
        error="rejected: recipient.email" if state == SendState.REJECTED else None,
        request_id="req_1",
        attempted_at="2026-04-16T10:00:00.000Z",
        finished_at="2026-04-16T10:00:01.000Z",
    )


SEND, NOT_APPROVED, INVALID, DUP, SKIP = (
    RowAction.SEND,
    RowAction.NOT_APPROVED,
    RowAction.INVALID,
    RowAction.DUPLICATE,
    RowAction.SKIP,
)
SENT_ALREADY, UNKNOWN, BLOCKED = RowAction.ALREADY_SENT, RowAction.UNKNOWN, RowAction.BLOCKED
UNKNOWN_FIRST = "Same email as row 2, whose send has an unknown outcome — check in &Open first"

# (id, rows, journal entries, eligibility by row key, expected (action, message) per row). Messages name
# rows as a spreadsheet numbers them: the header is row 1, so the first person is row 2.
CASES = [
    ("approved-valid-sends", [row()], [], {}, [(SEND, "")]),
    ("not-approved", [row(approved=False)], [], {}, [(NOT_APPROVED, "")]),
    (
        "not-approved-shows-its-problems",
        [row(first="A", approved=False)],
        [],
        {},
        [(NOT_APPROVED, "First name 'A' is too short (at least 2 characters)")],
    ),
    ("invalid-email", [row(email="not-an-email")], [], {}, [(INVALID, "Email 'not-an-email' is not a valid address")]),
    (
        "invalid-several-problems",
        [row(first="", email="")],
        [],
        {},
        [(INVALID, "First name is missing; Email is missing")],
    ),
    (
        "missing-emails-are-not-duplicates",
        [row(email=""), row(email="")],
        [],
        {},
        [(INVALID, "Email is missing"), (INVALID, "Email is missing")],
    ),
    (
        "duplicate-after-first",
        [row(), row(email=" ALICE@example.com ")],
        [],
        {},
        [(SEND, ""), (DUP, "Same email as row 2, which is sent instead")],
    ),
    (
        "first-approved-row-sends-after-unapproved-duplicate",
        [row(approved=False), row(), row(), row(B)],
        [],
        {},
        [(NOT_APPROVED, ""), (SEND, ""), (DUP, "Same email as row 3, which is sent instead"), (SEND, "")],
    ),
    (
        "first-valid-row-sends-after-invalid-duplicate",
        [row(first="A"), row()],
        [],
        {},
        [(INVALID, "First name 'A' is too short (at least 2 characters)"), (SEND, "")],
    ),
    (
        "already-sent-owner-by-row-key",
        [row(), row()],
        [entry(SendState.SENT, row_key="1")],
        {},
        [(DUP, "Same email as row 3, which was already sent"), (SENT_ALREADY, "")],
    ),
    (
        "already-sent-owner-is-first-row-when-key-gone",
        [row(B), row(), row()],
        [entry(SendState.SENT, row_key="zz")],
        {},
        [(SEND, ""), (SENT_ALREADY, ""), (DUP, "Same email as row 3, which was already sent")],
    ),
    (
        "already-sent-owner-row-key-now-holds-another-email",
        [row(B), row()],
        [entry(SendState.SENT, row_key="0")],
        {},
        [(SEND, ""), (SENT_ALREADY, "")],
    ),
    ("already-sent-shown-even-if-unapproved", [row(approved=False)], [entry(SendState.SENT)], {}, [(SENT_ALREADY, "")]),
    (
        "already-sent-wins-over-skip",
        [row()],
        [entry(SendState.SENT)],
        {"0": Eligibility(False, "gifted")},
        [(SENT_ALREADY, "")],
    ),
    (
        "unknown-blocks-other-rows-with-the-email",
        [row(), row(), row(B)],
        [entry(SendState.UNKNOWN)],
        {},
        [(UNKNOWN, ""), (BLOCKED, UNKNOWN_FIRST), (SEND, "")],
    ),
    (
        "unknown-owner-later-row",
        [row(), row()],
        [entry(SendState.UNKNOWN, row_key="1")],
        {},
        [(BLOCKED, "Same email as row 3, whose send has an unknown outcome — check in &Open first"), (UNKNOWN, "")],
    ),
    (
        "attempting-is-unknown",
        [row(), row()],
        [entry(SendState.ATTEMPTING)],
        {},
        [(UNKNOWN, ""), (BLOCKED, UNKNOWN_FIRST)],
    ),
    (
        "rejected-is-sendable-again",
        [row(), row()],
        [entry(SendState.REJECTED)],
        {},
        [(SEND, ""), (DUP, "Same email as row 2, which is sent instead")],
    ),
    ("failed-is-sendable-again", [row()], [entry(SendState.FAILED)], {}, [(SEND, "")]),
    ("journal-of-another-person-irrelevant", [row()], [entry(SendState.SENT, email=B)], {}, [(SEND, "")]),
    (
        "eligibility-skip",
        [row(), row(B)],
        [],
        {"0": Eligibility(False, "Gifted 2026-04-01 (Delivered)"), "1": Eligibility(True)},
        [(SKIP, "Gifted 2026-04-01 (Delivered)"), (SEND, "")],
    ),
    (
        "skip-needs-approval-first",
        [row(approved=False)],
        [],
        {"0": Eligibility(False, "Gifted recently")},
        [(NOT_APPROVED, "")],
    ),
]


@pytest.mark.parametrize("rows,journal,verdicts,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_rows(rows, journal, verdicts, expected):
    plan = plan_rows(checks(frame(*rows)), {e.email: e for e in journal}, verdicts)
    assert [(r.action, r.message) for r in plan.rows] == expected
    assert [r.row_key for r in plan.rows] == [str(i) for i in range(len(rows))]
    assert [i.row_key for i in plan.items] == [r.row_key for r in plan.rows if r.action == SEND]
    assert sum(plan.counts().values()) == len(rows)
    by_email = {e.email: e for e in journal}
    for r in plan.rows:
        email = normalize_email(r.recipient.email)
        if r.action in (SENT_ALREADY, UNKNOWN):
            assert r.journal is by_email[email]
        elif r.action == SEND:
            assert r.journal == by_email.get(email)  # a REJECTED/FAILED entry travels with the row
        else:
            assert r.journal is None


def test_plan_items_carry_the_recipient_as_typed():
    plan = plan_rows(checks(frame(row(email=" Alice@Example.com "), row(B, approved=False))), {})
    [item] = plan.items
    assert (item.row_key, item.recipient.first_name, item.recipient.email) == ("0", "Alice", "Alice@Example.com")
    assert plan.count(SEND) == 1 and plan.count(NOT_APPROVED) == 1
    assert plan.counts()["send"] == 1


def test_plan_results_explain_rows_not_sent_and_restore_the_journal():
    df = frame(
        row(),
        row(B),
        row(B),
        row("carol@example.com", approved=False),
        row("bad"),
        row("dave@example.com"),
        row("dave@example.com"),
    )
    journal = {A: entry(SendState.SENT), "dave@example.com": entry(SendState.UNKNOWN, "5", "dave@example.com")}
    results = {r.row_key: r.values for r in plan_rows(checks(df), journal).results()}
    assert results == {
        "0": {
            GIFT_REQUEST_ID: "g-1",
            REDEMPTION_URL: "https://gift/r/1",
            SEND_ERROR: "",
            SENT_AT: "2026-04-16 10:00:01 UTC",
        },
        "1": {SEND_ERROR: ""},  # to be sent: a stale error is cleared
        "2": {SEND_ERROR: "Same email as row 3, which is sent instead"},
        "4": {SEND_ERROR: "Email 'bad' is not a valid address"},
        "5": {SEND_ERROR: UNKNOWN_MESSAGE},
        "6": {SEND_ERROR: "Same email as row 7, whose send has an unknown outcome — check in &Open first"},
    }


def test_eligibility_results():
    c = checks(frame(row(), row(B)))
    results = eligibility_results(c, {"0": Eligibility(True), "1": Eligibility(False, "Gifted recently")})
    assert [(r.row_key, dict(r.values)) for r in results] == [
        ("0", {ELIGIBILITY: "eligible", SKIP_REASON: ""}),
        ("1", {ELIGIBILITY: "skip", SKIP_REASON: "Gifted recently"}),
    ]


# ------------------------------------------------------------------ apply_results


def user_frame(index=None) -> pd.DataFrame:
    return pd.DataFrame(
        {"First Name": ["Al", "Bo", "Cy"], "Email": ["a@x.co", "b@x.co", "c@x.co"], "Notes": ["n0", "n1", "n2"]},
        index=index,
    )


def test_apply_results_writes_by_row_key_and_appends_missing_columns():
    df = user_frame()
    before = df.copy(deep=True)
    out = apply_results(
        df,
        [
            RowResult("1", "b@x.co", {GIFT_REQUEST_ID: "g-1", SEND_ERROR: ""}),
            RowResult("2", "c@x.co", {SEND_ERROR: "bad email"}),
        ],
    )
    assert list(out.columns) == ["First Name", "Email", "Notes", GIFT_REQUEST_ID, SEND_ERROR]
    assert out[GIFT_REQUEST_ID].tolist() == ["", "g-1", ""]
    assert out[SEND_ERROR].tolist() == ["", "", "bad email"]
    assert out[["First Name", "Email", "Notes"]].equals(before)
    pd.testing.assert_frame_equal(df, before)  # the input is not mutated
    assert out is not df


def test_apply_results_leaves_other_rows_of_an_existing_column_alone():
    df = user_frame().assign(**{SEND_ERROR: ["old 0", "old 1", "old 2"], "Gift status": ["", "Submitted", ""]})
    before = df.copy(deep=True)
    out = apply_results(
        df, [RowResult("1", "b@x.co", {SEND_ERROR: ""}), RowResult("0", "a@x.co", {"Gift status": "Delivered"})]
    )
    assert list(out.columns) == list(df.columns)
    assert out[SEND_ERROR].tolist() == ["old 0", "", "old 2"]
    assert out["Gift status"].tolist() == ["Delivered", "Submitted", ""]
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    "index,key,position",
    [
        (["r-a", "r-b", "r-c"], "r-c", 2),
        ([10, 20, 30], "20", 1),
        (None, "0", 0),
    ],
    ids=["text-index", "int-index", "range-index"],
)
def test_apply_results_matches_the_index_as_text(index, key, position):
    out = apply_results(
        user_frame(index),
        [RowResult(key, "", {GIFT_REQUEST_ID: "g-9"}), RowResult("no-such-row", "", {GIFT_REQUEST_ID: "g-0"})],
    )
    assert len(out) == 3
    assert out[GIFT_REQUEST_ID].tolist() == ["g-9" if i == position else "" for i in range(3)]


def test_apply_results_later_results_for_a_row_win():
    out = apply_results(
        user_frame(), [RowResult("0", "", {SEND_ERROR: "first"}), RowResult("0", "", {SEND_ERROR: "second"})]
    )
    assert out[SEND_ERROR].tolist() == ["second", "", ""]


def test_apply_results_with_nothing_returns_an_equal_copy():
    df = user_frame()
    out = apply_results(df, [])
    pd.testing.assert_frame_equal(out, df)
    assert out is not df
