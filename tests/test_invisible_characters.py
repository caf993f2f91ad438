"""Invisible characters are named, never shown as they are: an email or a name holding a
zero-width space, a soft hyphen, a word joiner, a BOM or a text-direction mark is a row problem
that says "contains an invisible character" with the character escaped (`\\u200b`), in the CLI
and in the app's review grid, so an address that looks valid is never called invalid without
showing why. The joiners (U+200C/U+200D) are invisible in an email too; in a name they stay
allowed (Persian, Hindi and emoji need them). Webhook text fields refuse the same characters
with 400, as they refuse control characters."""

from __future__ import annotations

import json
import warnings

import pytest

from lib.recipients import validate_row
from lib.webhooks import MalformedError, receiver_app, verify
from tests.apptest_support import click, go, new_session, run
from tests.receivers import SECRET, signed_headers
from tests.support import cli_env, cli_in_process, write_people

with warnings.catch_warnings():  # "use httpx2": httpx is what this environment ships
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

# (id, character, how it is named)
INVISIBLE = [
    ("zero-width-space", "\u200b", "\\u200b"),
    ("zero-width-non-joiner", "\u200c", "\\u200c"),
    ("zero-width-joiner", "\u200d", "\\u200d"),
    ("soft-hyphen", "\u00ad", "\\u00ad"),
    ("word-joiner", "\u2060", "\\u2060"),
    ("bom", "\ufeff", "\\ufeff"),
    ("left-to-right-mark", "\u200e", "\\u200e"),
    ("right-to-left-mark", "\u200f", "\\u200f"),
    *[(f"embedding-or-override-{c:04x}", chr(c), f"\\u{c:04x}") for c in range(0x202A, 0x202F)],
    *[(f"isolate-{c:04x}", chr(c), f"\\u{c:04x}") for c in range(0x2066, 0x206A)],
]
IDS = [c[0] for c in INVISIBLE]
RAW = {ch for _id, ch, _n in INVISIBLE}


@pytest.mark.parametrize("ch, named", [c[1:] for c in INVISIBLE], ids=IDS)
def test_an_email_with_an_invisible_character_names_it_escaped(ch, named):
    problems = validate_row("Ana", "Bauer", f"ana{ch}@example.com")
    assert len(problems) == 1 and problems[0].startswith(f"Email contains an invisible character ({named}"), problems
    assert not RAW & set(problems[0])


@pytest.mark.parametrize("ch, named", [c[1:] for c in INVISIBLE if c[1] not in "\u200c\u200d"], ids=IDS[:1] + IDS[3:])
def test_a_name_with_an_invisible_character_names_it_escaped(ch, named):
    for first, last, label in ((f"An{ch}a", "Bauer", "First name"), ("Ana", f"Bau{ch}er", "Last name")):
        problems = validate_row(first, last, "ana@example.com")
        assert problems == [problems[0]] and problems[0].startswith(f"{label} contains an invisible character ({named}")


def write_list(path, ch_rows) -> None:
    clean = [["Clean", "Person", "clean@example.com", "yes"]]
    write_people(path, clean + [["Ana", f"Bauer{i}", f"ana{i}{ch}@example.com", "yes"] for i, ch in enumerate(ch_rows)])


def test_the_cli_names_every_one_escaped_and_prints_none_raw(store_backend, make_sandbox, tmp_path):
    sb = make_sandbox()
    chars = [ch for _id, ch, _n in INVISIBLE]
    write_list(tmp_path / "list.csv", chars)
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    proc = cli_in_process(tmp_path, env, "send", "list.csv", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert not RAW & set(proc.stdout + proc.stderr), "an invisible character was printed as it is"
    for i, (_id, _ch, named) in enumerate(INVISIBLE):
        line = f"ana{i}{named}@example.com: invalid — Email contains an invisible character ({named}"
        assert line in proc.stdout, (line, proc.stdout)


@pytest.mark.slow
def test_the_app_review_grid_names_it_escaped(data_dir, server_state):
    rows = [("zwsp", "\u200b"), ("shy", "\u00ad"), ("rlo", "\u202e"), ("bom", "\ufeff")]
    body = "First Name,Last Name,Email,Approved\n" + "".join(
        f"Ana,Bauer,{name}{ch}@example.com,yes\n" for name, ch in rows
    )
    at = run(new_session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value(("list.csv", body.encode(), "text/csv"))
    run(at)
    click(at, "use_upload")
    go(at, "review_send")
    problems = at.data_editor[0].value["Problem"].tolist()
    for (name, ch), problem in zip(rows, problems):
        named = f"\\u{ord(ch):04x}"
        assert problem.startswith(f"Email contains an invisible character ({named}"), problems
        assert ch not in problem


# (id, body) each correctly signed; every one is 400
WEBHOOK_CASES = [
    ("status-zero-width", {"id": "g-1", "status": "redeemed\u200b"}),
    ("status-soft-hyphen", {"id": "g-1", "status": "deliv\u00adered"}),
    ("status-direction", {"id": "g-1", "status": "\u202edelivered"}),
    ("email-zero-width", {"id": "g-1", "status": "submitted", "recipient": {"email": "ana\u200b@example.com"}}),
    ("email-joiner", {"id": "g-1", "status": "submitted", "recipient": {"email": "ana\u200d@example.com"}}),
    ("email-isolate", {"id": "g-1", "status": "submitted", "recipient": {"email": "\u2066ana@example.com\u2069"}}),
    ("email-bom", {"id": "g-1", "status": "submitted", "recipient": {"email": "\ufeffana@example.com"}}),
    ("gift-id-word-joiner", {"id": "g-\u20601", "status": "submitted"}),
    ("campaign-id-mark", {"id": "g-1", "status": "submitted", "campaign_id": "c-1\u200e"}),
]


@pytest.mark.parametrize("body", [c[1] for c in WEBHOOK_CASES], ids=[c[0] for c in WEBHOOK_CASES])
def test_webhook_text_fields_refuse_them(body):
    raw = json.dumps(body).encode()
    with pytest.raises(MalformedError, match="contains an invisible character"):
        verify(signed_headers(raw), raw, SECRET)


def test_the_receiver_answers_400_and_stores_nothing(store):
    client = TestClient(receiver_app(store, SECRET))
    for _id, body in WEBHOOK_CASES:
        raw = json.dumps(body).encode()
        r = client.post("/webhooks/andopen", content=raw, headers=signed_headers(raw))
        assert r.status_code == 400 and "invisible character" in r.json()["error"], (_id, r.text)
    clean = json.dumps({"id": "g-1", "status": "submitted"}).encode()
    assert client.post("/webhooks/andopen", content=clean, headers=signed_headers(clean)).status_code == 200
    assert [e.status for e in store.events()] == ["submitted"], "only the clean event is stored"
