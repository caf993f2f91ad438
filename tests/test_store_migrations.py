"""The store has a schema version and migrates itself when it opens: a store written by the
released Giftrun (no version, `CREATE TABLE IF NOT EXISTS`) opens with everything in it,
one made before `runs.stop_requested_by` existed gains the column, a store from a newer
Giftrun is refused with a clear message, and hosts opening one new database at once agree."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from lib.models import EventSource, Recipient, SendState, StatusEvent
from lib.store import Store, StoreVersionError
from lib.store.migrations import LATEST, version
from tests import backends
from tests.support import REPO

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

# The schema of the store as released before versions existed (lib/store.py at 25f5794), verbatim.
RELEASED_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    list_key TEXT NOT NULL, email TEXT NOT NULL, state TEXT NOT NULL, run_id TEXT, row_key TEXT,
    first_name TEXT, last_name TEXT, email_as_typed TEXT, campaign_id TEXT, gift_request_id TEXT,
    redemption_url TEXT, error TEXT, request_id TEXT, attempted_at TEXT, finished_at TEXT,
    PRIMARY KEY (list_key, email)
);
CREATE INDEX IF NOT EXISTS sends_email ON sends(email);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, list_key TEXT NOT NULL, actor TEXT NOT NULL, started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL, finished_at TEXT, state TEXT NOT NULL, host TEXT, pid INTEGER, counts TEXT,
    message TEXT{stop_column}
);
CREATE INDEX IF NOT EXISTS runs_list ON runs(list_key, state);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, gift_request_id TEXT NOT NULL, email TEXT, status TEXT, event_type TEXT,
    source TEXT NOT NULL, occurred_at TEXT, received_at TEXT NOT NULL, redemption_url TEXT, actor TEXT
);
CREATE INDEX IF NOT EXISTS events_gift ON events(gift_request_id);
CREATE INDEX IF NOT EXISTS events_email ON events(email);
CREATE TABLE IF NOT EXISTS gifts (
    gift_request_id TEXT PRIMARY KEY, email TEXT, status TEXT, redemption_url TEXT, first_seen_at TEXT,
    updated_at TEXT
);
CREATE INDEX IF NOT EXISTS gifts_email ON gifts(email);
CREATE TABLE IF NOT EXISTS overrides (
    list_key TEXT NOT NULL, email TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL, reason TEXT,
    PRIMARY KEY (list_key, email)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    list_key TEXT, email TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS lists (
    list_key TEXT PRIMARY KEY, name TEXT NOT NULL, csv BLOB NOT NULL, mapping TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, event_id TEXT NOT NULL, done_at TEXT,
    UNIQUE (target, event_id)
);
"""
T0, T1 = "2026-10-01T09:00:00.000Z", "2026-10-01T09:00:05.000Z"


def released_store(folder, *, with_stop_column: bool = True) -> None:
    """A giftrun.sqlite3 as the released Giftrun left it, one row in every table."""
    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "giftrun.sqlite3")
    db.executescript(RELEASED_SCHEMA.format(stop_column=",\n    stop_requested_by TEXT" if with_stop_column else ""))
    db.execute(
        "INSERT INTO sends VALUES ('csv:/l.csv','ana@example.com','sent','r1','0','Ana','Ruiz',"
        "'Ana@Example.com','camp-1','g-1','https://gift/r/1',NULL,'req_1',?,?)",
        (T0, T1),
    )
    db.execute(
        "INSERT INTO sends VALUES ('csv:/l.csv','bo@example.com','unknown','r1','1','Bo','Li',"
        "'bo@example.com','camp-1',NULL,NULL,'timed out',NULL,?,?)",
        (T0, T1),
    )
    db.execute(
        "INSERT INTO runs (run_id, list_key, actor, started_at, heartbeat_at, finished_at, state, host, pid, "
        "counts, message) VALUES ('r1','csv:/l.csv','cli',?,?,?,'completed','h',1,'{\"sent\": 1}',NULL)",
        (T0, T1, T1),
    )
    db.execute(
        "INSERT INTO events VALUES ('send:g-1','g-1','ana@example.com','submitted','gift_request_created',"
        "'send',?,?,'https://gift/r/1','cli')",
        (T0, T0),
    )
    db.execute(
        "INSERT INTO events VALUES ('ev-2','g-1','ana@example.com','delivered','gift_request_delivered',"
        "'webhook',?,?,NULL,'')",
        (T1, T1),
    )
    db.execute("INSERT INTO gifts VALUES ('g-1','ana@example.com','delivered','https://gift/r/1',?,?)", (T0, T1))
    db.execute("INSERT INTO overrides VALUES ('csv:/l.csv','cy@example.com','maria@team',?,'asked twice')", (T0,))
    db.execute(
        "INSERT INTO audit (at, actor, action, list_key, email, detail) VALUES "
        "(?,'maria@team','override','csv:/l.csv','cy@example.com','asked twice')",
        (T0,),
    )
    db.execute(
        "INSERT INTO lists VALUES ('list:abc','people.csv',?,'{\"email\": \"Email\"}',?)",
        (b"Email\nana@example.com\n", T0),
    )
    db.execute("INSERT INTO outbox (target, event_id, done_at) VALUES ('sheet:KEY','ev-2',NULL)")
    db.commit()
    db.close()


@pytest.mark.parametrize("with_stop_column", [True, False], ids=["released", "before-stop-requests"])
def test_a_store_written_by_the_released_schema_opens_with_everything_in_it(tmp_path, with_stop_column):
    released_store(tmp_path, with_stop_column=with_stop_column)
    store = Store(tmp_path)
    try:
        assert version(store.db) == LATEST
        journal = store.journal("csv:/l.csv")
        ana, bo = journal["ana@example.com"], journal["bo@example.com"]
        assert (ana.state, ana.gift_request_id, ana.redemption_url, ana.campaign_id, ana.row_key) == (
            SendState.SENT,
            "g-1",
            "https://gift/r/1",
            "camp-1",
            "0",
        )
        assert (bo.state, bo.error) == (SendState.UNKNOWN, "timed out")
        # …and the journal still refuses both: nobody is gifted twice after an upgrade
        for email in ("ana@example.com", "bo@example.com"):
            assert not store.begin_attempt(
                "csv:/l.csv", Recipient("X", "Y", email), row_key="9", campaign_id="camp-1", run_id="r2"
            )
        run = store.run("r1")
        assert (run.actor, run.state, run.counts) == ("cli", "completed", {"sent": 1})
        assert [e.event_id for e in store.events(gift_request_id="g-1")] == ["send:g-1", "ev-2"]
        assert store.gift("g-1").status == "delivered"
        assert store.overrides("csv:/l.csv") == {"cy@example.com": ("maria@team", T0, "asked twice")}
        assert [(a["actor"], a["action"]) for a in store.audit_log()] == [("maria@team", "override")]
        assert store.load_list("list:abc") == ("people.csv", b"Email\nana@example.com\n", {"email": "Email"})
        assert [e.event_id for e in store.pending("sheet:KEY")] == ["ev-2"]
        # what needed the newer schema works on the old file
        assert store.request_stop(store.acquire_run("csv:/other.csv", "me"), "maria@team")
        store.add_event(StatusEvent("ev-3", "g-1", "cancelled", EventSource.POLL, email="ana@example.com"))
        assert store.gift("g-1").status == "cancelled"
    finally:
        store.close()


def test_opening_again_changes_nothing(tmp_path):
    released_store(tmp_path)
    Store(tmp_path).close()
    store = Store(tmp_path)
    try:
        assert version(store.db) == LATEST
        assert len(store.journal("csv:/l.csv")) == 2 and len(store.events()) == 2
    finally:
        store.close()


def test_a_store_from_a_newer_giftrun_is_refused_with_a_clear_message(tmp_path):
    backends.store(tmp_path).close()
    store = backends.store(tmp_path)
    with store.db.write() as conn:
        store.db.execute(conn, f"UPDATE {store.db.table('schema_version')} SET version=:v", {"v": LATEST + 1})
    store.close()
    with pytest.raises(StoreVersionError, match=f"newer Giftrun \\(schema version {LATEST + 1}\\).*up to {LATEST}"):
        backends.store(tmp_path)


OPEN_AND_CLAIM = """
import sys
from lib.models import Recipient
from tests import backends
store = backends.store(sys.argv[1])
print(store.begin_attempt("list-" + sys.argv[2], Recipient("Al", "Bo", "al@example.com"), row_key="0",
                          campaign_id="c", run_id="r" + sys.argv[2]))
"""


@pytest.mark.slow
def test_hosts_opening_a_new_store_at_the_same_moment_all_get_one_schema(tmp_path):
    """Six processes open an empty store at once: the migrations run once, every process works."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_CLAIM, str(tmp_path / "shared"), str(i)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outs]
    assert sorted(out.strip() for out, _ in outs) == ["True"] * 6  # six lists: each claims its own line
    store = backends.store(tmp_path / "shared")
    try:
        assert version(store.db) == LATEST
    finally:
        store.close()


def test_addresses_stored_before_canonical_emails_are_rekeyed_and_a_held_send_wins(tmp_path):
    """The released store kept `ana@bücher.example` as typed (lowercased); the same mailbox in its
    `xn--` form is one person now. Where both forms are lines of one list, the held send is kept."""
    released_store(tmp_path)
    db = sqlite3.connect(tmp_path / "giftrun.sqlite3")
    db.execute(
        "INSERT INTO sends (list_key, email, state, campaign_id, gift_request_id, attempted_at) VALUES "
        "('csv:/l.csv', 'ana@bücher.example', 'sent', 'camp-1', 'g-idn', ?)",
        (T0,),
    )
    db.execute(
        "INSERT INTO sends (list_key, email, state, campaign_id, error, attempted_at) VALUES "
        "('csv:/l.csv', 'ana@xn--bcher-kva.example', 'rejected', 'camp-1', 'bad name', ?)",
        (T1,),
    )
    db.execute(
        "INSERT INTO sends (list_key, email, state, campaign_id, attempted_at) VALUES "
        "('csv:/other.csv', 'ИВАН@пример.рф', 'unknown', 'camp-1', ?)",
        (T0,),
    )
    db.execute(
        "INSERT INTO events VALUES ('ev-idn','g-idn','ana@bücher.example','delivered','','webhook',?,?,NULL,'')",
        (T1, T1),
    )
    db.commit()
    db.close()
    store = Store(tmp_path)
    try:
        lines = store.journal("csv:/l.csv")
        assert "ana@bücher.example" not in lines
        assert (lines["ana@xn--bcher-kva.example"].state, lines["ana@xn--bcher-kva.example"].gift_request_id) == (
            SendState.SENT,
            "g-idn",
        )
        assert list(store.journal("csv:/other.csv")) == ["иван@xn--e1afmkfd.xn--p1ai"]
        assert [e.email for e in store.events(gift_request_id="g-idn")] == ["ana@xn--bcher-kva.example"]
        assert not store.begin_attempt(
            "csv:/l.csv", Recipient("Ana", "Ruiz", "ANA@Bücher.example"), row_key="5", campaign_id="camp-1", run_id="r9"
        )
    finally:
        store.close()
