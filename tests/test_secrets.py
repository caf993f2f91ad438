"""A canary &Open key and a canary webhook secret appear nowhere: not on any page, in any log
record, in any file the app or the CLI writes, in any HTTP response, exception message or repr.

The canaries are random per test session, so a hit can only be a leak. Each check looks, in any
case, for the whole value, its secret part, its base64, any 12 characters in a row of its random
part, and the marker "CANARY" with the 3 characters after it, so a cut-off copy counts too. The
masked form (stage + last 4) may appear, and positive controls prove that each place searched
really was searched.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
import warnings
from pathlib import Path

import pytest
import requests
from starlette.applications import Starlette
from streamlit.testing.v1 import AppTest

with warnings.catch_warnings():  # "use httpx2": httpx is what this environment ships
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from lib import cli
from lib.andopen import AndOpenClient, AndOpenError, ConfigError
from lib.connection import check_connection
from lib.runtime import http_session
from lib.sandbox import DEFAULT_TOKEN, Faults, Sandbox
from lib.settings import Secret, Settings, SettingsError, mask_token
from lib.webhooks import MAX_BODY_BYTES, WebhookIntake, receiver_app, routes, sign
from tests import backends
from tests.apptest_support import (
    button,
    new_session,
    nodes,
    reset_services,
    run,
    services,
    texts,
    upload_sample,
    wait_for_run,
)
from tests.support import REPO

CLI_TIMEOUT = 120

RANDOM = uuid.uuid4().hex + uuid.uuid4().hex[:8]
KEY = "ao-v1-staging-CANARY" + RANDOM  # the &Open key
KEY_SECRET_PART = KEY.split("-", 3)[3]
HOOK_RANDOM = uuid.uuid4().hex + uuid.uuid4().hex[:8]
HOOK = "whsec_CANARY" + HOOK_RANDOM  # the webhook secret
PASSWORD_RANDOM = uuid.uuid4().hex
PASSWORD = "pw-CANARY-" + PASSWORD_RANDOM  # the app password
MASKED = mask_token(KEY)  # "ao-v1-staging-…" + last 4: allowed everywhere
NO_SUCH_CAMPAIGN = "00000000-0000-4000-8000-000000000000"


# -- the canary check ------------------------------------------------------------------------
def _fragments(value: str, random_part: str, window: int = 12) -> list[str]:
    frags = {
        value,
        value.split("-", 3)[-1],
        random_part,
        base64.b64encode(value.encode()).decode(),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    }
    frags |= {random_part[i : i + window] for i in range(len(random_part) - window + 1)}
    start = value.index("CANARY")
    frags.add(value[start : start + len("CANARY") + 3])  # a cut-off copy: the marker and what follows
    return sorted(frags, key=len, reverse=True)


KEY_FRAGMENTS = _fragments(KEY, RANDOM)
HOOK_FRAGMENTS = _fragments(HOOK, HOOK_RANDOM)
PASSWORD_FRAGMENTS = _fragments(PASSWORD, PASSWORD_RANDOM)
assert not any(f.lower() in MASKED.lower() for f in KEY_FRAGMENTS), "the masked form must not trip the check"


def leaks(text: str | bytes, *, password: bool = True) -> list[str]:
    """Which canary fragments occur in `text` (case-insensitive; bytes read as latin-1)."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    hay = text.lower()
    groups = [("&Open key", KEY_FRAGMENTS), ("webhook secret", HOOK_FRAGMENTS)]
    if password:
        groups.append(("app password", PASSWORD_FRAGMENTS))
    found = []
    for name, frags in groups:
        hit = next((f for f in frags if f.lower() in hay), None)
        if hit is not None:
            at = hay.find(hit.lower())
            found.append(f"{name} fragment {hit!r} in …{text[max(0, at - 80) : at + len(hit) + 40]!r}…")
    return found


def assert_clean(text: str | bytes, where: str, *, password: bool = True) -> None:
    found = leaks(text, password=password)
    assert not found, f"canary leaked in {where}: {found}"


def files_text(root: Path) -> dict[str, bytes]:
    """Every file under root, as bytes (SQLite -wal and -shm included)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            try:
                out[str(path)] = path.read_bytes()
            except OSError:
                pass
    return out


def assert_files_clean(root: Path) -> int:
    files = files_text(root)
    for name, data in files.items():
        assert_clean(data, f"file {name}")
    return len(files)


# -- log capture -------------------------------------------------------------------------------
class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string still gets searched
            message = f"{record.msg!r} % {record.args!r}"
        parts = [record.name, message, repr(record.msg), repr(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
            parts.append(repr(record.exc_info[1].args))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        extra = {k: v for k, v in vars(record).items() if k not in ("exc_info", "args", "msg")}
        parts.append(repr(extra))
        with self._lock2:
            self.records.append(record)
            self.texts.append("\n".join(parts))

    def assert_clean(self, **kw) -> None:
        with self._lock2:
            texts = list(self.texts)
        for text in texts:
            assert_clean(text, "a log record", **kw)


@pytest.fixture
def logs():
    """Every log record at DEBUG and above: the root logger, plus loggers that do not propagate
    (Streamlit's)."""
    handler = Collector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    detached = []
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate:
            logger.addHandler(handler)
            detached.append(logger)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for logger in detached:
            logger.removeHandler(handler)


# -- the sandbox and the app -------------------------------------------------------------------
# make_sandbox, data_dir and server_state are conftest's; every sandbox here is given its token.
def live_campaign(sb: Sandbox) -> str:
    return next(c["id"] for c in sb.campaigns if c["state"] != "archived")


def live_session(data_dir: Path, sb: Sandbox, *, key: str = KEY, password: str | None = PASSWORD) -> AppTest:
    return new_session(
        data_dir,
        ANDOPEN_API_KEY=key,
        ANDOPEN_BASE_URL=sb.url,
        ANDOPEN_WEBHOOK_SECRET=HOOK,
        GIFTRUN_APP_PASSWORD=password or None,
    )


def page_text(at: AppTest) -> str:
    """Everything the browser would get: every element of main, sidebar, events and bottom,
    its value, body, label, help, options, repr and raw protobuf (dataframes included)."""
    parts = []
    for node in nodes(at._tree):
        parts.append(type(node).__name__)
        for attr in ("value", "body", "label", "help", "placeholder", "options", "icon", "caption"):
            try:
                v = getattr(node, attr, None)
            except Exception:
                continue
            if v is None:
                continue
            if hasattr(v, "to_csv"):
                v = v.to_csv()
            parts.append(str(v))
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        try:
            parts.append(repr(node))
        except Exception:
            pass
    return "\n".join(parts)


class Checked:
    """Runs an AppTest and checks the whole tree for the canaries after every run."""

    def __init__(self, at: AppTest, *, password_typed: bool = False) -> None:
        self.at = at
        self.runs = 0
        self.password_typed = password_typed  # the password form holds what was typed: skip that one

    def run(self) -> AppTest:
        run(self.at)
        self.check()
        return self.at

    def check(self) -> None:
        self.runs += 1
        text = page_text(self.at)
        assert_clean(text, f"the page after run {self.runs}", password=not self.password_typed)

    def click(self, key: str) -> AppTest:
        self.at.button(key=key).click()
        return self.run()

    def upload_sample(self) -> AppTest:
        upload_sample(self.at)
        return self.run()

    def go(self, page: str) -> AppTest:
        self.at.switch_page(f"views/{page}.py")
        return self.run()

    def button(self, label: str):
        return button(self.at, label)

    def sign_in(self, password: str = PASSWORD, name: str = "ann@team.example") -> AppTest:
        at = self.run()
        assert [t.value for t in at.title] == ["Giftrun"]
        inputs = {t.label: t for t in at.text_input}
        inputs["Your name or email (for the audit trail)"].input(name)
        inputs["App password"].input(password)
        self.password_typed = True
        self.button("Enter").click()
        self.run()
        self.password_typed = False
        self.check()  # the form is gone: now the password may appear nowhere either
        return at


# -- the app, live against a sandbox that accepts the canary key ------------------------------
@pytest.mark.slow
def test_live_app_flow_never_shows_logs_or_stores_the_key(data_dir, server_state, make_sandbox, logs, capsys):
    sb = make_sandbox(KEY)
    c = Checked(live_session(data_dir, sb))
    at = c.sign_in()
    assert [t.value for t in at.title] == ["Build list"]
    assert not services().demo_mode
    assert MASKED in page_text(at), "positive control: the masked key is in the sidebar"

    c.upload_sample()
    c.go("review_send")
    c.click("approve_all")
    assert at.button(key="send").label == "Send 20 gifts"
    c.click("send")
    wait_for_run(c.at, c.run)
    assert "Run finished: 20 sent" in texts(at.success)
    assert len(sb.gifts) == 20
    posts = [r for r in sb.requests if r.path.startswith("/gift_requests")]
    assert posts and all(r.header("Authorization") == f"Bearer {KEY}" for r in posts), (
        "positive control: the key really was used"
    )

    c.go("gift_status")
    gift_id = next(iter(sb.gifts))
    sb.set_status(gift_id, "redeemed")
    c.button("Refresh statuses").click()
    c.run()
    assert not at.error

    c.go("settings")
    assert f"**&Open key:** {MASKED} ·" in texts(at.markdown)
    assert "secret configured" in texts(at.markdown)
    c.button("Check connection").click()
    c.run()
    message = texts(at.success)
    assert message.startswith("Connected") and MASKED in message, message
    assert at.dataframe[0].value.iloc[0]["By"] == "ann@team.example"

    # the app's own webhook route (app.py mounts these routes over the same services)
    hooks = TestClient(Starlette(routes=routes(services().intake)))
    gift_id = next(iter(sb.gifts))
    for headers, body, expected in (
        delivery(gift(gift_id)) + (200,),
        delivery(gift(gift_id), secret="nope") + (401,),
        delivery(gift(gift_id), signature=HOOK) + (401,),
        delivery(b"q" * (MAX_BODY_BYTES + 1)) + (413,),
    ):
        resp = hooks.post(URL, content=body, headers=headers)
        assert resp.status_code == expected, resp.text
        assert_clean(resp.text + repr(dict(resp.headers)), "the app's webhook response")
    assert_clean(hooks.get("/webhooks/health").text, "the app's webhook health")

    assert_clean(repr(services()), "repr(Services)")
    assert_clean(repr(services().intake()), "repr(WebhookIntake)")
    assert_clean(repr(services().settings), "repr(Settings)")
    n = assert_files_clean(data_dir)
    if backends.current() == "postgres":
        dump = backends.store_dump(data_dir)
        assert_clean(dump, "the database")
        assert "ann@team.example" in dump, "positive control: the database was read"
    else:
        assert n >= 1 and any(p.endswith("-wal") for p in files_text(data_dir)), "positive control: the store was read"
    out = capsys.readouterr()
    assert_clean(out.out + out.err, "stdout/stderr")
    assert any(r.name.startswith("urllib3") for r in logs.records), "positive control: DEBUG logs were captured"
    logs.assert_clean()
    reset_services()
    assert_files_clean(data_dir.parent)  # after the store closed, everything under the test's tmp dir


def test_live_app_with_a_rejected_key_says_so_without_the_key(data_dir, server_state, make_sandbox, logs, capsys):
    """The sandbox accepts another token: every call with the canary gets 401."""
    sb = make_sandbox(DEFAULT_TOKEN)
    c = Checked(live_session(data_dir, sb, password=None))
    at = c.run()
    assert "anyone with this link can send gifts" in texts(at.sidebar.warning)
    c.upload_sample()
    c.go("review_send")
    errors = texts(at.error)
    assert "Could not load campaigns" in errors and "rejected the API key" in errors, errors
    c.go("gift_status")
    c.go("settings")
    c.button("Check connection").click()
    c.run()
    message = texts(at.error)
    assert MASKED in message and sb.url in message, message
    assert_files_clean(data_dir)
    out = capsys.readouterr()
    assert_clean(out.out + out.err, "stdout/stderr")
    logs.assert_clean()


def test_live_app_with_a_staging_key_aimed_at_production_refuses_without_the_key(data_dir, server_state, logs):
    c = Checked(new_session(data_dir, ANDOPEN_API_KEY=KEY, ANDOPEN_BASE_URL="https://api.andopen.co"))
    at = c.run()
    c.upload_sample()
    c.go("review_send")
    errors = texts(at.error)
    assert "staging key" in errors and "https://api.andopen.co" in errors and MASKED in errors, errors
    c.go("settings")
    c.button("Check connection").click()
    c.run()
    assert "staging key" in texts(at.error)
    assert_files_clean(data_dir)
    logs.assert_clean()


# -- the CLI -------------------------------------------------------------------------------------
HEADER = ["Company", "First Name", "Last Name", "Email", "Approved"]
ROWS = [
    ["Acme", "Ada", "Lovelace", "ada@example.com", "TRUE"],
    ["Acme", "Alan", "Turing", "alan@example.com", "TRUE"],
    ["Initech", "Bad", "Email", "not-an-email", "TRUE"],
    ["Initech", "Grace", "Hopper", "grace@example.com", "FALSE"],
]


def write_list(path: Path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerows(ROWS)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


class Listener:
    """A TCP socket that counts connections: aimed at by HTTPS_PROXY, it proves no request
    to an &Open host left the process."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def cli_env(tmp_path: Path, **values: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANDOPEN_", "GIFTRUN_", "GOOGLE_")) and "proxy" not in k.lower()
    }
    env.update(
        PYTHONPATH=str(REPO),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        ANDOPEN_WEBHOOK_SECRET=HOOK,
        **backends.env(tmp_path / "data"),
    )
    for k, v in values.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


# (id, sandbox token or None, base URL ("sandbox" / a URL), argv after the CSV path, exit code, must say)
CLI_CASES = [
    ("send", KEY, "sandbox", ["--campaign", "{campaign}"], 0, ["Sent 2", MASKED]),
    ("dry-run", KEY, "sandbox", ["--campaign", "{campaign}", "--dry-run"], 0, ["Dry run"]),
    ("wrong-campaign", KEY, "sandbox", ["--campaign", NO_SUCH_CAMPAIGN], 1, [NO_SUCH_CAMPAIGN, "not found"]),
    ("rejected-key", DEFAULT_TOKEN, "sandbox", ["--campaign", "{campaign}"], 1, ["rejected the API key"]),
    (
        "staging-key-at-production",
        None,
        "https://api.andopen.co",
        ["--campaign", NO_SUCH_CAMPAIGN],
        2,
        ["staging key", "https://api.andopen.co", MASKED],
    ),
    ("unreachable", None, "dead", ["--campaign", NO_SUCH_CAMPAIGN], 1, ["Could not"]),
]


def _cli_setup(tmp_path: Path, make_sandbox, token, base):
    campaign = NO_SUCH_CAMPAIGN
    if base == "sandbox":
        sb = make_sandbox(token)
        base_url = sb.url
        campaign = live_campaign(sb)
    elif base == "dead":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{s.getsockname()[1]}"
        s.close()  # nothing listens there now
    else:
        base_url = base
    return base_url, campaign


def _check_cli_output(text: str, code: int, expected_code: int, must_say: list[str], campaign: str) -> None:
    assert code == expected_code, text
    assert "Traceback" not in text, text
    for phrase in must_say:
        assert phrase.format(campaign=campaign) in text, (phrase, text)
    assert_clean(text, "the CLI's output")


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("token,base,args,code,must_say", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_in_a_subprocess_never_prints_or_writes_the_key(
    tmp_path, make_sandbox, listener, token, base, args, code, must_say
):
    base_url, campaign = _cli_setup(tmp_path, make_sandbox, token, base)
    source = write_list(tmp_path / "list.csv")
    env = cli_env(
        tmp_path, ANDOPEN_API_KEY=KEY, ANDOPEN_BASE_URL=base_url, HTTPS_PROXY=listener.url, https_proxy=listener.url
    )
    argv = [a.format(campaign=campaign) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "lib.cli", "send", str(source), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    _check_cli_output(proc.stdout + proc.stderr, proc.returncode, code, must_say, campaign)
    assert listener.connections == 0, "a request was made to an &Open host"
    assert_clean(source.read_bytes(), "the written CSV")
    assert_files_clean(tmp_path)
    if code == 0 and "--dry-run" not in argv:
        assert b"Gift request ID" in source.read_bytes(), "positive control: results were written back"
        status = subprocess.run(
            [sys.executable, "-m", "lib.cli", "status", str(source), "--poll"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        _check_cli_output(status.stdout + status.stderr, status.returncode, 0, ["Polled 2 gifts"], campaign)
        campaigns = subprocess.run(
            [sys.executable, "-m", "lib.cli", "campaigns"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        _check_cli_output(campaigns.stdout + campaigns.stderr, campaigns.returncode, 0, [campaign], campaign)
        assert_files_clean(tmp_path)


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("token,base,args,code,must_say", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_in_process_never_logs_the_key(
    tmp_path, monkeypatch, make_sandbox, listener, logs, capsys, token, base, args, code, must_say
):
    """The same commands through `cli.main`, so DEBUG log records can be searched too."""
    base_url, campaign = _cli_setup(tmp_path, make_sandbox, token, base)
    source = write_list(tmp_path / "list.csv")
    for name in [k for k in os.environ if k.startswith(("ANDOPEN_", "GIFTRUN_", "GOOGLE_")) or "proxy" in k.lower()]:
        monkeypatch.delenv(name)
    for k, v in dict(
        ANDOPEN_API_KEY=KEY,
        ANDOPEN_BASE_URL=base_url,
        ANDOPEN_WEBHOOK_SECRET=HOOK,
        NO_PROXY="127.0.0.1,localhost",
        HTTPS_PROXY=listener.url,
        **backends.env(tmp_path / "data"),
    ).items():  # GIFTRUN_DATA_DIR, and the database if any
        monkeypatch.setenv(k, v)
    result = cli.main(["send", str(source), *[a.format(campaign=campaign) for a in args]])
    out = capsys.readouterr()
    _check_cli_output(out.out + out.err, result, code, must_say, campaign)
    assert listener.connections == 0
    logs.assert_clean()
    assert_files_clean(tmp_path)
    assert_clean(backends.store_dump(tmp_path / "data"), "the database")


@pytest.mark.slow
def test_cli_bad_service_account_setting_does_not_echo_the_private_key(tmp_path):
    """A quoted JSON value (as some .env loaders leave it) used to be taken for a file path and
    echoed whole, private key included, in the error."""
    canary_pk = f"-----BEGIN PRIVATE KEY-----\\nMIIE{RANDOM}\\n-----END PRIVATE KEY-----\\n"
    value = (
        "'"
        + json.dumps(
            {"type": "service_account", "private_key": canary_pk, "client_email": "x@y.iam.gserviceaccount.com"}
        )
        + "'"
    )
    env = cli_env(
        tmp_path, ANDOPEN_API_KEY=KEY, ANDOPEN_BASE_URL="http://127.0.0.1:9", GOOGLE_SERVICE_ACCOUNT_JSON=value
    )
    source = write_list(tmp_path / "list.csv")
    proc = subprocess.run(
        [sys.executable, "-m", "lib.cli", "send", str(source), "--campaign", NO_SUCH_CAMPAIGN],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "GOOGLE_SERVICE_ACCOUNT_JSON" in text, text
    assert "Traceback" not in text and RANDOM[:12] not in text and "PRIVATE KEY" not in text, text


# -- the webhook receiver ---------------------------------------------------------------------------
URL = "/webhooks/andopen"


def delivery(
    body: bytes | dict,
    *,
    secret: str = HOOK,
    ts: int | None = None,
    event_id: str | None = None,
    drop: tuple[str, ...] = (),
    signature: str | None = None,
) -> tuple[dict, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time()) if ts is None else ts
    headers = {
        "AndOpen-Webhook-Signature": signature if signature is not None else sign(secret, ts, raw),
        "AndOpen-Webhook-Dispatch-Timestamp": str(ts),
        "AndOpen-Webhook-Event-Id": event_id or str(uuid.uuid4()),
        "AndOpen-Webhook-Event-Type": "gift_request_redeemed",
        "Content-Type": "application/json",
    }
    return {k: v for k, v in headers.items() if k not in drop}, raw


def gift(gid: str = "g-1") -> dict:
    return {
        "id": gid,
        "status": "redeemed",
        "campaign_id": "c-1",
        "redemption_url": f"https://gift.andopen.co/r/{gid}",
        "recipient": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        "updated_at": "2026-04-16T10:30:00.000Z",
    }


def _chunks(data: bytes, size: int = 64 * 1024):
    for i in range(0, len(data), size):
        yield data[i : i + size]


GOOD_EVENT = str(uuid.uuid4())
# (id, request kwargs builder, expected status)
RECEIVER_CASES = [
    ("good", lambda: delivery(gift(), event_id=GOOD_EVENT), 200),
    ("duplicate", lambda: delivery(gift(), event_id=GOOD_EVENT), 200),
    ("wrong-secret", lambda: delivery(gift("g-2"), secret="whsec_someone_else"), 401),
    ("secret-as-signature", lambda: delivery(gift("g-3"), signature=HOOK), 401),
    ("no-signature", lambda: delivery(gift("g-4"), drop=("AndOpen-Webhook-Signature",)), 401),
    ("no-timestamp", lambda: delivery(gift("g-5"), drop=("AndOpen-Webhook-Dispatch-Timestamp",)), 401),
    ("stale", lambda: delivery(gift("g-6"), ts=int(time.time()) - 3600), 401),
    ("future", lambda: delivery(gift("g-7"), ts=int(time.time()) + 3600), 401),
    ("not-json", lambda: delivery(b"{not json " + HOOK.encode()), 400),
    ("json-array", lambda: delivery(b"[1, 2]"), 400),
    ("no-gift-id", lambda: delivery({"status": "redeemed"}), 400),
    ("no-event-id", lambda: delivery(gift("g-8"), drop=("AndOpen-Webhook-Event-Id",)), 400),
    ("oversized", lambda: delivery(b"x" * (MAX_BODY_BYTES + 1)), 413),
]


@pytest.mark.usefixtures("store_backend")
def test_receiver_answers_every_kind_of_delivery_without_the_secret(tmp_path, logs):
    client = TestClient(receiver_app(backends.store(tmp_path / "data"), HOOK))
    seen = {}
    for name, build, expected in RECEIVER_CASES:
        headers, body = build()
        resp = client.post(URL, content=body, headers=headers)
        seen[name] = resp.status_code
        assert resp.status_code == expected, (name, resp.status_code, resp.text)
        assert_clean(resp.text, f"the {name} response body")
        assert_clean(repr(dict(resp.headers)), f"the {name} response headers")
        if expected != 200:
            assert resp.json()["error"], name  # every refusal says why
    # streamed without a Content-Length: cut off at the cap
    headers, body = delivery(b"y" * (MAX_BODY_BYTES * 2))
    resp = client.post(URL, content=_chunks(body), headers=headers)
    assert resp.status_code == 413 and str(MAX_BODY_BYTES) in resp.json()["error"]
    assert_clean(resp.text + repr(dict(resp.headers)), "the streamed oversized response")
    for path in ("/webhooks/health", "/health"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert_clean(resp.text + repr(dict(resp.headers)), path)
    assert seen["good"] == 200 and client.get("/webhooks/health").json()["events"]["accepted"] == 1
    assert any("refused" in t for t in logs.texts), "positive control: refusals are logged and were captured"
    logs.assert_clean()
    if backends.current() == "postgres":
        dump = backends.store_dump(tmp_path / "data")
        assert_clean(dump, "the database")
        assert "ada@example.com" in dump, "positive control: the database was read"
    else:
        assert assert_files_clean(tmp_path / "data") >= 1


@pytest.mark.usefixtures("store_backend")
def test_intake_objects_do_not_show_the_secret(tmp_path):
    store = backends.store(tmp_path / "data")
    try:
        intake = WebhookIntake(store, HOOK)
        assert_clean(repr(intake) + str(intake) + repr(vars(intake).get("counts")), "WebhookIntake")
        headers, body = delivery(gift())
        status, payload = intake.handle(headers, body)
        assert status == 200
        assert_clean(json.dumps(payload), "the intake payload")
    finally:
        store.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_standalone_receiver_process_never_prints_the_secret(tmp_path):
    port = _free_port()
    env = cli_env(tmp_path, ANDOPEN_API_KEY=KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.cli", "webhooks", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(base + "/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.1)
        for build, expected in (
            (lambda: delivery(gift()), 200),
            (lambda: delivery(gift(), secret="nope"), 401),
            (lambda: delivery(gift(), signature=HOOK), 401),
            (lambda: delivery(b"z" * (MAX_BODY_BYTES + 10)), 413),
        ):
            headers, body = build()
            resp = requests.post(base + URL, data=body, headers=headers, timeout=10)
            assert resp.status_code == expected, resp.text
            assert_clean(resp.text + repr(dict(resp.headers)), "the receiver's response")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert "Webhook receiver on" in out, out + err  # positive control: its output was read
    assert "Traceback" not in err, err
    assert_clean(out + err, "the receiver's output")
    assert_files_clean(tmp_path)


# -- reprs, f-strings, exceptions ---------------------------------------------------------------
def _settings() -> Settings:
    return Settings.from_mapping(
        {
            "ANDOPEN_API_KEY": KEY,
            "ANDOPEN_WEBHOOK_SECRET": HOOK,
            "GIFTRUN_APP_PASSWORD": PASSWORD,
            "ANDOPEN_BASE_URL": "http://127.0.0.1:9",
        }
    )


def test_settings_and_secrets_never_print_themselves():
    s = _settings()
    assert s.api_key.reveal() == KEY and s.webhook_secret.reveal() == HOOK  # positive control
    shown = [
        repr(s),
        str(s),
        f"{s}",
        f"{s!r}",
        "%s" % (s,),
        f"{s}",
        repr(dataclasses.asdict(s)),
        repr(vars(s)),
        str([s.api_key, s.webhook_secret, s.app_password]),
        json.dumps({"k": s.api_key, "h": s.webhook_secret}, default=str),
    ]
    for secret in (s.api_key, s.webhook_secret, s.app_password):
        shown += [
            repr(secret),
            str(secret),
            f"{secret}",
            f"{secret!r}",
            f"{secret!s}",
            "%s" % secret,
            "%r" % secret,
            f"{secret}",
            format(secret, ""),
            secret.masked(),
            str({"x": secret}),
        ]
        try:
            shown.append(f"{secret:>80}")
        except TypeError as exc:  # a format spec is refused, and the refusal does not show it
            shown.append(str(exc))
    for text in shown:
        assert_clean(text, "a Settings/Secret rendering")
    assert MASKED in repr(s)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "key %s hook %r", (s.api_key, s.webhook_secret), None)
    assert_clean(record.getMessage(), "a log message formatting the secrets")


# (id, token, base url): keys that are malformed or not &Open's own, still never shown whole
ODD_KEYS = [
    ("staging-canary", KEY, None),
    ("production-canary", "ao-v1-production-CANARY" + RANDOM, None),
    ("not-andopen-shaped", "CANARY" + RANDOM, None),
    ("ao-prefixed-but-not-a-key", f"ao-CANARY{RANDOM[:16]}-{RANDOM[16:]}-x", None),
    ("wrong-version", f"ao-v9{RANDOM[:14]}-staging-{RANDOM[14:]}", None),
]


@pytest.mark.parametrize("token,base", [c[1:] for c in ODD_KEYS], ids=[c[0] for c in ODD_KEYS])
def test_masking_and_config_errors_never_show_the_key(token, base):
    assert_clean(mask_token(token), "mask_token")
    assert_clean(repr(Secret(token)), "repr(Secret)")
    try:
        client = AndOpenClient(http_session(), Secret(token), base)
    except ConfigError as exc:
        assert_clean(str(exc) + repr(exc) + repr(exc.args) + "".join(traceback.format_exception(exc)), "a ConfigError")
    else:
        assert_clean(repr(client) + client.masked_token, "repr(AndOpenClient)")
    check = check_connection(Settings.from_mapping({"ANDOPEN_API_KEY": token}), http_session())
    assert_clean(check.message, "check_connection's message")


def _all_text(exc: BaseException) -> str:
    return "\n".join(
        [
            str(exc),
            repr(exc),
            repr(exc.args),
            getattr(exc, "message", ""),
            repr(getattr(exc, "details", "")),
            "".join(traceback.format_exception(exc)),
        ]
    )


def test_every_client_error_against_the_sandbox_is_free_of_the_key(make_sandbox):
    good = make_sandbox(KEY)
    other = make_sandbox(DEFAULT_TOKEN)
    dead = Sandbox(KEY).start()
    dead_url = dead.url
    dead.stop()
    client = AndOpenClient(http_session(), Secret(KEY), good.url)
    assert_clean(repr(client), "repr(AndOpenClient)")
    assert MASKED in repr(client)
    campaign = live_campaign(good)
    busy = make_sandbox(KEY, faults=Faults(error_503=1.0))
    broken = make_sandbox(KEY, faults=Faults(error_500_after_create=1.0))
    hangs = make_sandbox(KEY, faults=Faults(hang_after_create=1.0, hang_seconds=3.0))
    calls = {
        "401": lambda: AndOpenClient(http_session(), Secret(KEY), other.url).list_campaigns(),
        "401-create": lambda: AndOpenClient(http_session(), Secret(KEY), other.url).create_gift_request(
            campaign, "Ada", "Lovelace", "ada@example.com"
        ),
        "404-gift": lambda: client.get_gift_request("gr_" + uuid.uuid4().hex),
        "404-campaign": lambda: client.get_campaign(NO_SUCH_CAMPAIGN),
        "422-bad-email": lambda: client.create_gift_request(campaign, "Ada", "Lovelace", "not-an-email"),
        "422-short-name": lambda: client.create_gift_request(campaign, "A", "Lovelace", "ada@example.com"),
        "campaign-unknown": lambda: client.create_gift_request(NO_SUCH_CAMPAIGN, "Ada", "Lovelace", "a@example.com"),
        "503": lambda: AndOpenClient(http_session(), Secret(KEY), busy.url).create_gift_request(
            campaign, "Ada", "Lovelace", "ada@example.com"
        ),
        "500-after-create": lambda: AndOpenClient(http_session(), Secret(KEY), broken.url).create_gift_request(
            campaign, "Ada", "Lovelace", "ada@example.com"
        ),
        "timeout-after-create": lambda: AndOpenClient(
            http_session(), Secret(KEY), hangs.url, timeout=(2.0, 0.5)
        ).create_gift_request(campaign, "Ada", "Lovelace", "ada@example.com"),
        "unreachable": lambda: AndOpenClient(http_session(), Secret(KEY), dead_url).list_campaigns(),
        "staging-key-at-production": lambda: AndOpenClient(http_session(), Secret(KEY), "https://api.andopen.co"),
        "production-key-at-staging": lambda: AndOpenClient(
            http_session(), Secret("ao-v1-production-CANARY" + RANDOM), "https://api.staging.andopen.co"
        ),
        "plain-http-andopen": lambda: AndOpenClient(http_session(), Secret(KEY), "http://api.staging.andopen.co"),
        "no-host-odd-key": lambda: AndOpenClient(http_session(), Secret("CANARY" + RANDOM)),
    }
    raised = {}
    for name, call in calls.items():
        with pytest.raises(AndOpenError) as info:
            call()
        raised[name] = info.value
        assert_clean(_all_text(info.value), f"the {name} error")
    assert [raised[k].status for k in ("401", "404-gift", "422-bad-email", "503", "500-after-create")] == [
        401,
        404,
        422,
        503,
        500,
    ]
    assert type(raised["timeout-after-create"]).__name__ == "UnknownOutcomeError"
    assert isinstance(raised["staging-key-at-production"], ConfigError)
    for settings in (
        Settings.from_mapping({"ANDOPEN_API_KEY": KEY, "ANDOPEN_BASE_URL": other.url}),
        Settings.from_mapping({"ANDOPEN_API_KEY": KEY, "ANDOPEN_BASE_URL": dead_url}),
        Settings.from_mapping({"ANDOPEN_API_KEY": KEY, "ANDOPEN_BASE_URL": "https://api.andopen.co"}),
        Settings.from_mapping({"ANDOPEN_API_KEY": KEY, "ANDOPEN_BASE_URL": good.url}),
    ):
        result = check_connection(settings, http_session())
        assert (
            MASKED in result.message or "staging key" in result.message or "could not be reached" in result.message
        ), result.message
        assert_clean(result.message, "check_connection's message")


def test_service_account_errors_do_not_echo_the_value(tmp_path):
    canary_pk = f"-----BEGIN PRIVATE KEY-----\\nMIIE{RANDOM}\\n-----END PRIVATE KEY-----\\n"
    account = json.dumps({"type": "service_account", "private_key": canary_pk})
    for value in ("'" + account + "'", '"' + account + '"', account[1:], "x" * 5000 + RANDOM, RANDOM * 10):
        with pytest.raises(SettingsError) as info:
            Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": value})
        message = str(info.value)
        assert "GOOGLE_SERVICE_ACCOUNT_JSON" in message
        assert RANDOM[:12] not in message and "PRIVATE KEY" not in message, message
    missing = tmp_path / "nope.json"
    with pytest.raises(SettingsError, match="does not exist") as info:  # a real path is still named
        Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": str(missing)})
    assert str(missing) in str(info.value)
