"""One person, one address: every spelling of one mailbox is the same person everywhere.

`normalize_email` defines the canonical form once (strip; NFC; local part lowercased; the
domain lowercased, trailing dots dropped, IDNA/UTS #46 to its `xn--` form). These tests
prove the classes of spellings it joins (international domains in Latin, Cyrillic and CJK
scripts, decomposed accents, full-width domain letters and dots), the ones it keeps apart
(a full-width local part, `ß` against `ss`), and that every check keyed on a person uses
it: duplicates in a list, the send journal, the look-back across lists, sheet row
identity, the sign-in allow-list — with what is sent to &Open left as the user typed it.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from lib import eligibility as elig
from lib.access import domain_allowed
from lib.models import EventSource, Recipient, SendState, StatusEvent, iso, normalize_email, utcnow
from lib.recipients import check_rows, match_columns
from lib.sending import SendItem, SendRun
from lib.sheets import identity
from lib.writeback import GIFT_REQUEST_ID
from tests.support import RecordingSink, assert_nobody_gifted_twice, cli_env, posts, run_cli

# (canonical form, spellings of that one mailbox, nearby addresses that are other mailboxes)
CLASSES = [
    (
        "ana@xn--bcher-kva.example",
        [
            "ana@bücher.example",
            "ANA@XN--BCHER-KVA.example",
            "ana@BÜCHER.example.",
            " ana@bücher.example ",
            "ana@bu\u0308cher.example",  # ü decomposed (u + combining diaeresis): NFC joins it
            "ana@bücher\u3002example",  # ideographic full stop as the label separator
            "ana@ｂüｃｈｅｒ.example",  # full-width domain letters: UTS #46 folds them (same host)
            "Ana@Xn--Bcher-Kva.Example.",
        ],
        ["ana@bucher.example", "anna@bücher.example", "ａｎａ@bücher.example", "ana@sub.bücher.example"],
    ),
    (
        "иван@xn--e1afmkfd.xn--p1ai",
        [
            "иван@пример.рф",
            "ИВАН@ПРИМЕР.РФ",
            "Иван@xn--e1afmkfd.xn--p1ai",
            "иван@Пример.Рф.",
            "ИВАН@XN--E1AFMKFD.XN--P1AI",
        ],
        ["иван@пример.рус", "ivan@пример.рф"],
    ),
    (
        "王伟@xn--fsqu00a.xn--4rr70v",
        [
            "王伟@例子.广告",
            "王伟@XN--FSQU00A.XN--4RR70V",
            "王伟@例子。广告",
            "王伟@例子．广告",
        ],
        ["王@例子.广告", "王伟@例子.中国"],
    ),
    (
        "josé@xn--caf-dma.example",
        [
            "josé@café.example",
            "JOSÉ@CAFÉ.EXAMPLE",
            "jose\u0301@cafe\u0301.example",
            "José@xn--caf-dma.example",
        ],
        ["jose@cafe.example", "josé@cafe.example"],
    ),
    (
        "ana@xn--fa-hia.example",
        ["ana@faß.example", "ANA@FAß.EXAMPLE", "ana@FAẞ.example", "ana@XN--FA-HIA.example"],
        ["ana@fass.example"],
    ),  # IDNA 2008 keeps ß: faß and fass are two registrable domains
    (
        "ana@example.com",
        ["ana@example.com", " Ana@Example.COM ", "ANA@EXAMPLE.COM.", "\tana@example.com\n"],
        ["ａｎａ@example.com"],
    ),  # a full-width local part: only the server reads it (NFC, not NFKC)
]
IDS = [c for c, _s, _o in CLASSES]


def _members() -> list[tuple[str, str]]:
    return [(canonical, spelling) for canonical, spellings, _o in CLASSES for spelling in spellings]


@pytest.mark.parametrize("canonical, spellings, others", CLASSES, ids=IDS)
def test_every_spelling_of_a_mailbox_has_the_one_canonical_form(canonical, spellings, others):
    assert {s: normalize_email(s) for s in spellings} == {s: canonical for s in spellings}
    assert [o for o in others if normalize_email(o) == canonical] == [], "other mailboxes must stay other people"


def test_the_canonical_form_is_stable_nfc_text():
    """The store keeps canonical forms and compares new input against them (and the store
    migration re-normalises what is kept): normalising twice must change nothing."""
    texts = [s for _c, spellings, others in CLASSES for s in spellings + others] + [
        "",
        "no-at-sign",
        "ana@",
        "ana@b..",
        "ana@ .",
        "T\u0308@x.example",
        "a@a_b.bücher.example",
        "a@xn--zz.example",
        "a@" + "ü" * 80 + ".example",
        "İ@İstanbul.example",
        "a@" + "ü" * 600,
    ]
    unstable = {
        t: normalize_email(t)
        for t in texts
        if normalize_email(normalize_email(t)) != normalize_email(t)
        or unicodedata.normalize("NFC", normalize_email(t)) != normalize_email(t)
    }
    assert unstable == {}


def test_the_look_back_column_rule_gives_exactly_the_same_forms():
    """eligibility normalises whole columns at once (fast path for ASCII); it must agree
    with normalize_email on every value, or the look-back would miss a person."""
    values = (
        [s for _c, s in _members()]
        + [o for _c, _s, others in CLASSES for o in others]
        + ["", " x@y.example. ", "x@y\x1c", "\x1fx@y", "x.", "A@B.C", "\xa0ana@bücher.example\xa0"]
    )
    for dtype in ("str", object):
        got = elig._norm_email(pd.Series(values, dtype=dtype)).tolist()
        assert got == [normalize_email(v) for v in values]
        assert got[: len(_members())] == [c for c, _s in _members()]


# -- every check keyed on a person ---------------------------------------------------------------
@pytest.mark.parametrize("canonical, spellings, _others", CLASSES, ids=IDS)
def test_duplicates_in_a_list_are_found_across_spellings(canonical, spellings, _others):
    df = pd.DataFrame({"First": ["Ana"] * len(spellings), "Last": ["Bauer"] * len(spellings), "Email": spellings})
    checks = check_rows(df, match_columns(list(df.columns)))
    assert [c.duplicate_of for c in checks] == [None] + [2] * (len(spellings) - 1)  # row 2: the first person
    assert [c.recipient.email for c in checks] == [s.strip() for s in spellings]  # shown and sent as typed


@pytest.mark.parametrize("canonical, spellings, _others", CLASSES, ids=IDS)
def test_sheet_rows_keep_their_identity_across_spellings(canonical, spellings, _others):
    assert {identity(s, "Ana", "Bauer") for s in spellings} == {canonical}


def test_the_look_back_sees_a_gift_under_any_spelling(store):
    """A gift journalled in one list, one recorded by a webhook and one on a shared history
    tab, each under another spelling: rows of another list in every spelling are skipped."""
    now = utcnow()
    store.claim("list:a", Recipient("Ana", "Bauer", "ana@bücher.example"), row_key="0", campaign_id="c", run_id="r")
    store.record_outcome("list:a", "ana@bücher.example", SendState.SENT, gift_request_id="g-ana")
    store.add_event(
        StatusEvent(
            event_id="e1",
            gift_request_id="g-ivan",
            status="delivered",
            source=EventSource.WEBHOOK,
            email="ИВАН@XN--E1AFMKFD.XN--P1AI",
            occurred_at=iso(now),
        )
    )
    extra = pd.DataFrame({"email": ["王伟@例子。广告"], "gifted_at": [iso(now)], "gift_request_id": ["g-wei"]})
    known = elig.known_gifts(store, list_key="list:b", extra=extra)
    rows = [s for _c, spellings, _o in CLASSES[:3] for s in spellings]
    result = elig.check(pd.Series(rows), known, elig.parse_window("30d"), now=now, list_key="list:b")
    assert list(result[elig.ELIGIBILITY]) == [elig.SKIP] * len(rows), result


def test_the_look_back_sees_a_gift_id_on_a_row_of_the_list(store):
    frame = pd.DataFrame({"Email": ["ANA@XN--BCHER-KVA.example", "ana@bücher.example"], GIFT_REQUEST_ID: ["g1", ""]})
    known = elig.known_gifts(store, list_key="list:c", list_frame=frame)
    result = elig.check(
        frame["Email"],
        known,
        elig.parse_window("forever"),
        now=utcnow(),
        own_gift_ids=frame[GIFT_REQUEST_ID],
        list_key="list:c",
    )
    assert list(result[elig.ELIGIBILITY]) == [elig.ELIGIBLE, elig.SKIP]


def test_the_run_engine_finds_the_journal_entry_of_another_spelling(make_sandbox, store):
    """The engine's own guard (rows the journal holds are written back, never posted) looks
    the journal up by the canonical form, whatever spelling the row has now."""
    sb = make_sandbox()
    store.claim(
        "list:e", Recipient("Ana", "Bauer", "ANA@XN--BCHER-KVA.example"), row_key="0", campaign_id="c", run_id="r"
    )
    store.record_outcome("list:e", "ANA@XN--BCHER-KVA.example", SendState.SENT, gift_request_id="g-held")
    from tests.test_sending import client_for

    sink = RecordingSink()
    run = SendRun(
        client_for(sb),
        store,
        "list:e",
        [SendItem("0", Recipient("Ana", "Bauer", "ana@bücher.example"))],
        sb.campaign_ids[0],
        rate=100.0,
        sink=sink,
    )
    progress = run.run()
    assert posts(sb) == []
    assert progress.already == 1
    written = [r for batch in sink.batches for r in batch]
    assert [(r.row_key, r.values.get(GIFT_REQUEST_ID)) for r in written] == [("0", "g-held")]


def test_the_sign_in_allow_list_compares_canonical_domains():
    table = [
        ("ana@bücher.example", ("xn--bcher-kva.example",), True),
        ("ana@XN--BCHER-KVA.example", ("bücher.example",), True),
        ("ana@ｂüｃｈｅｒ.example", ("BÜCHER.example",), True),
        ("ana@bucher.example", ("bücher.example",), False),
        ("ana@sub.bücher.example", ("bücher.example",), False),
    ]
    assert [domain_allowed(email, allowed) for email, allowed, _ok in table] == [ok for _e, _a, ok in table]


# -- end to end: the CLI against the sandbox -------------------------------------------------------
HEADER = ["First Name", "Last Name", "Email", "Approved"]


def _write(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_one_gift_per_person_across_spellings_lists_and_runs(make_sandbox, tmp_path):
    sb = make_sandbox()
    env = cli_env(tmp_path / "data", sb)
    campaign = ("--campaign", sb.campaign_ids[0], "--rate", "50")
    _write(
        tmp_path / "first.csv",
        [
            ["Ana", "Bauer", "ana@bücher.example", "yes"],
            ["Ana", "Bauer", "ANA@XN--BCHER-KVA.example", "yes"],
            ["Иван", "Петров", "иван@пример.рф", "yes"],
            ["Ivan", "Petrov", "ИВАН@ПРИМЕР.РФ", "yes"],
            ["Wei", "Wang", "王伟@例子.广告", "yes"],
            ["Wei", "Wang", "王伟@XN--FSQU00A.XN--4RR70V", "yes"],
        ],
    )
    proc = run_cli(tmp_path, env, "send", "first.csv", *campaign, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 to send" in proc.stdout and "3 duplicate" in proc.stdout, proc.stdout
    # sent to &Open exactly as typed
    assert sorted(p.json["recipient"]["email"] for p in posts(sb)) == sorted(
        ["ana@bücher.example", "иван@пример.рф", "王伟@例子.广告"]
    )

    # the same list, the gift ids lost and every address now in another spelling: nothing new is sent
    _write(
        tmp_path / "first.csv",
        [
            ["Ana", "Bauer", "ana@ｂüｃｈｅｒ.example", "yes"],
            ["Иван", "Петров", "Иван@xn--e1afmkfd.xn--p1ai", "yes"],
            ["Wei", "Wang", "王伟@例子。广告", "yes"],
        ],
    )
    proc = run_cli(tmp_path, env, "send", "first.csv", *campaign, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "0 to send" in proc.stdout, proc.stdout
    assert len(posts(sb)) == 3

    # another list: the look-back across lists catches every spelling
    _write(
        tmp_path / "second.csv",
        [
            ["Ana", "Bauer", "Ana@Xn--Bcher-Kva.Example", "yes"],
            ["Иван", "Петров", "ИВАН@ПРИМЕР.РФ", "yes"],
            ["Wei", "Wang", "王伟@例子．广告", "yes"],
        ],
    )
    proc = run_cli(tmp_path, env, "send", "second.csv", *campaign, "--lookback", "forever", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "0 to send" in proc.stdout and "3 skipped" in proc.stdout, proc.stdout
    assert len(posts(sb)) == 3
    assert_nobody_gifted_twice(sb)
