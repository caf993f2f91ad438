"""Who may use a shared deployment, and the limits on what they may feed it.

- `domain_allowed` and `PasswordGate` as tables and with a fake clock (nobody waits 60 s);
- the gate in `main.py` under AppTest: the password form hides every page, a wrong password is
  refused, the right one opens the app and names the sender in the audit trail; OIDC (`[auth]`
  in the secrets) shows only "Sign in" until `st.user` is logged in, and then only for the
  allowed domains; live mode with no sign-in warns in the sidebar; demo mode has no gate;
- limits: an upload over MAX_LIST_BYTES, a list over MAX_ROWS, a webhook body over the cap.

AppTest and OIDC: `at.user` is what the script reads as `st.user`. Streamlit only adds
`is_logged_in=False` by itself when its own secrets singleton has an `[auth]` section, which
`at.secrets` does not reach, so each OIDC test states `is_logged_in` explicitly. Pressing
"Sign in" (`st.login`) needs a real identity provider and is not tested here; "Sign out"
(`st.logout`) is.

AppTest and pages: see `server_state`. The gate tests run `main.py` on every run, as a server
does once `st.navigation` has been called in its process; the direct-link tests run without it
and show what the first visitors of a fresh process get (a known bypass, xfail).
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

with warnings.catch_warnings():  # "use httpx2": httpx is what this environment ships
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from lib import csvio
from lib.access import GateResult, PasswordGate, domain_allowed
from lib.sandbox import Sandbox
from lib.settings import Secret
from lib.webhooks import MAX_BODY_BYTES, receiver_app, sign
from tests import backends
from tests.apptest_support import (
    button,
    click,
    go,
    new_session,
    nodes,
    run,
    services,
    texts,
    upload_sample,
    wait_for_run,
)

TOKEN = "ao-v1-staging-access" + uuid.uuid4().hex
PASSWORD = "correct horse battery staple"
WARNING = "anyone with this link can send gifts"
LOCKED = "Too many wrong passwords"
FAKE_AUTH = {  # the shape Streamlit documents; nothing here is ever contacted
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-" + uuid.uuid4().hex,
    "client_id": "giftrun-test",
    "client_secret": "test-client-secret",
    "server_metadata_url": "https://accounts.example.invalid/.well-known/openid-configuration",
}


# == domain_allowed ==================================================================================
# (id, email, allow-list, allowed)
DOMAINS = [
    ("no-list-any-email", "ann@anywhere.example", (), True),
    ("no-list-no-email", None, (), False),
    ("no-list-empty-email", "", (), False),
    ("exact-domain", "ann@team.example", ("team.example",), True),
    ("second-listed-domain", "bob@partner.example", ("team.example", "partner.example"), True),
    ("other-domain", "eve@evil.example", ("team.example",), False),
    ("sub-domain-is-not-its-parent", "ann@eu.team.example", ("team.example",), False),
    ("parent-is-not-a-listed-sub-domain", "ann@team.example", ("eu.team.example",), False),
    ("look-alike-suffix", "eve@evilteam.example", ("team.example",), False),
    ("domain-in-the-local-part", "team.example@evil.example", ("team.example",), False),
    ("upper-case-email", "Ann@TEAM.Example", ("team.example",), True),
    ("spaces-around-email", "  ann@team.example \n", ("team.example",), True),
    ("missing-email", None, ("team.example",), False),
    ("empty-email", "", ("team.example",), False),
    ("no-at-sign", "team.example", ("team.example",), False),
    ("nothing-after-at", "ann@", ("team.example",), False),
]


@pytest.mark.parametrize("email,allowed,expected", [c[1:] for c in DOMAINS], ids=[c[0] for c in DOMAINS])
def test_domain_allowed(email, allowed, expected):
    assert domain_allowed(email, allowed) is expected


# == PasswordGate ====================================================================================
class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_gate(clock: FakeClock, password: str = PASSWORD) -> PasswordGate:
    return PasswordGate(Secret(password), clock=clock)  # defaults: 5 failures in 300 s → 60 s lock-out


def test_right_password_opens():
    assert make_gate(FakeClock()).check(PASSWORD) == GateResult(True)


@pytest.mark.parametrize(
    "attempt",
    ["", "wrong", PASSWORD[:-1], PASSWORD + " ", PASSWORD.upper(), " " + PASSWORD],
    ids=["empty", "wrong", "prefix", "trailing-space", "upper-case", "leading-space"],
)
def test_wrong_password_is_refused(attempt):
    result = make_gate(FakeClock()).check(attempt)
    assert result == GateResult(False, "Wrong password.")


def test_five_wrong_within_the_window_lock_everyone_out_for_60_seconds():
    clock = FakeClock()
    gate = make_gate(clock)
    for i in range(4):
        clock.now += 10
        assert gate.check(f"guess {i}").message == "Wrong password."
    clock.now += 10
    fifth = gate.check("guess 5")
    assert not fifth.ok and fifth.message == f"{LOCKED}. Try again in 60 s."
    locked_at = clock.now

    clock.now = locked_at + 5
    right = gate.check(PASSWORD)  # even the right password, during the lock-out
    assert not right.ok and right.message == f"{LOCKED}. Try again in 55 s."
    clock.now = locked_at + 59.5
    assert gate.check(PASSWORD).message == f"{LOCKED}. Try again in 1 s."

    clock.now = locked_at + 60
    assert gate.check(PASSWORD).ok
    assert gate.check("wrong again").message == "Wrong password."  # a fresh count after the lock-out


def test_failures_outside_the_window_do_not_count():
    clock = FakeClock()
    gate = make_gate(clock)
    for _ in range(4):
        assert gate.check("old guess").message == "Wrong password."
    clock.now += 300  # the four old failures fall out of the 300 s window
    for _ in range(4):
        assert gate.check("new guess").message == "Wrong password."
    assert gate.check(PASSWORD).ok
    clock.now += 1
    for _ in range(4):
        gate.check("after success")
    assert LOCKED in gate.check("fifth in the window").message


def test_the_right_password_resets_the_count():
    gate = make_gate(FakeClock())
    for _ in range(4):
        gate.check("wrong")
    assert gate.check(PASSWORD).ok
    for _ in range(4):
        assert gate.check("wrong").message == "Wrong password."


def test_a_lockout_during_a_lockout_is_not_extended_by_more_guesses():
    clock = FakeClock()
    gate = make_gate(clock)
    for _ in range(5):
        gate.check("wrong")
    clock.now += 30
    for _ in range(10):
        assert LOCKED in gate.check("still guessing").message
    clock.now += 30
    assert gate.check(PASSWORD).ok


def test_concurrent_guesses_are_counted_exactly():
    clock = FakeClock()
    gate = make_gate(clock)
    results: list[GateResult] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def guess() -> None:
        start.wait()
        r = gate.check("wrong")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    messages = [r.message for r in results]
    assert messages.count("Wrong password.") == 4
    assert sum(LOCKED in m for m in messages) == 36
    assert not gate.check(PASSWORD).ok


def test_non_ascii_passwords_work():
    gate = make_gate(FakeClock(), password="Grüße-🎁-пароль")
    assert gate.check("Grüße-🎁-пароль").ok
    assert gate.check("Gruße-🎁-пароль").message == "Wrong password."


def test_the_comparison_is_constant_time(monkeypatch):
    """Every check goes through hmac.compare_digest with the attempt and the password, and its
    verdict is the gate's: no short-cut comparison runs before or instead of it."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    gate = make_gate(FakeClock())
    assert not gate.check("x").ok
    assert gate.check(PASSWORD).ok
    assert len(calls) == 2
    assert {frozenset((a, b)) for a, b in calls} == {
        frozenset((b"x", PASSWORD.encode())),
        frozenset((PASSWORD.encode(),)),
    }

    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: True)  # the verdict really is compare_digest's
    assert make_gate(FakeClock()).check("anything").ok


# == the gate in main.py =============================================================================
# data_dir and server_state are conftest's; see `server_state` there for why the gate tests use it.
@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox(TOKEN)


def session(
    data_dir: Path,
    sb: Sandbox | None = None,
    *,
    password: str | None = None,
    auth: dict | None = None,
    domains: str | None = None,
    user: dict | None = None,
) -> AppTest:
    """A browser session. `sb` given: live mode against it (via at.secrets); else demo mode."""
    live = {"ANDOPEN_API_KEY": sb.token, "ANDOPEN_BASE_URL": sb.url} if sb is not None else {}
    at = new_session(data_dir, **live, GIFTRUN_APP_PASSWORD=password, auth=auth, GIFTRUN_ALLOWED_DOMAINS=domains)
    if user is not None:
        at.user = user
    return at


def page_text(at: AppTest) -> str:
    """Everything rendered anywhere (main, sidebar, events), as protobuf text."""
    return "\n".join(str(n.proto) for n in nodes(at._tree) if getattr(n, "proto", None) is not None)


def elements(block) -> list:
    return [n for n in nodes(block) if not hasattr(n, "children") or not isinstance(n.children, dict)]


def submit_password(at: AppTest, password: str, name: str = "") -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Your name or email (for the audit trail)"].input(name)
    inputs["App password"].input(password)
    button(at, "Enter").click()
    return run(at)


def assert_only_the_gate(at: AppTest) -> None:
    """The sign-in screen and nothing of the app: no page, no navigation, no sidebar, no data."""
    assert [t.value for t in at.title] == ["Giftrun"]
    text = page_text(at)
    for phrase in (
        "Build list",
        "Review & send",
        "Gift status",
        "Settings",
        "Upload a",
        "Sample list",
        "&Open key",
        "Demo mode",
        WARNING,
    ):
        assert phrase not in text, f"{phrase!r} is visible before sign-in"
    assert not at.dataframe and not at.tabs and not at.selectbox and not at.file_uploader
    assert not elements(at.sidebar), "the sidebar shows something before sign-in"


def send_sample(at: AppTest) -> None:
    upload_sample(at)
    go(at, "review_send")
    click(at, "approve_all")
    click(at, "send")
    wait_for_run(at)
    assert "Run finished: 20 sent" in texts(at.success)


# -- the app password --------------------------------------------------------------------------
def test_password_gate_shows_the_form_and_nothing_else(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, password=PASSWORD))
    assert_only_the_gate(at)
    assert [t.label for t in at.text_input] == ["Your name or email (for the audit trail)", "App password"]
    assert at.text_input[1].proto.type == at.text_input[1].proto.PASSWORD
    assert not sandbox.requests, "nothing may be asked of &Open before sign-in"

    for page in ("settings", "review_send"):  # a link to another page is gated too
        go(at, page)
        assert_only_the_gate(at)


def test_wrong_password_is_refused_and_the_right_one_opens_the_app(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, password=PASSWORD))
    submit_password(at, "hunter2")
    assert texts(at.error) == "Wrong password."
    assert_only_the_gate(at)

    submit_password(at, PASSWORD, name="ann@team.example")
    assert [t.value for t in at.title] == ["Build list"]
    assert not at.error
    assert WARNING not in page_text(at)
    assert "Live: &Open key" in texts(at.sidebar.caption)

    other = run(session(data_dir, sandbox, password=PASSWORD))  # another browser signs in for itself
    assert_only_the_gate(other)


@pytest.mark.slow
def test_the_name_typed_at_sign_in_is_the_runs_sender(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, password=PASSWORD))
    submit_password(at, PASSWORD, name="  ann@team.example ")
    send_sample(at)
    runs = services().store.runs()
    assert [r.actor for r in runs] == ["ann@team.example"]
    go(at, "settings")
    assert at.dataframe[0].value.iloc[0]["By"] == "ann@team.example"


@pytest.mark.slow
def test_no_name_at_sign_in_is_recorded_as_a_password_user(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, password=PASSWORD))
    submit_password(at, PASSWORD)
    assert at.session_state["giftrun_actor"] == "password user"


@pytest.mark.slow
def test_five_wrong_passwords_lock_every_session_out(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, password=PASSWORD))
    for _ in range(4):
        submit_password(at, "guess")
        assert texts(at.error) == "Wrong password."
    submit_password(at, "guess")
    assert texts(at.error).startswith(LOCKED)
    submit_password(at, PASSWORD)  # the right password does not open a locked gate
    assert texts(at.error).startswith(LOCKED)
    assert_only_the_gate(at)

    other = run(session(data_dir, sandbox, password=PASSWORD))  # the lock-out is process-wide
    submit_password(other, PASSWORD)
    assert texts(other.error).startswith(LOCKED)
    assert_only_the_gate(other)


@pytest.mark.slow
def test_live_mode_without_sign_in_warns_in_the_sidebar(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox))
    assert [t.value for t in at.title] == ["Build list"]
    warning = texts(at.sidebar.warning)
    assert WARNING in warning and "GIFTRUN_APP_PASSWORD" in warning and "[auth]" in warning
    assert not at.text_input


@pytest.mark.slow
def test_demo_mode_has_no_gate_and_no_warning(data_dir, server_state):
    at = run(session(data_dir))
    assert services().demo_mode
    assert [t.value for t in at.title] == ["Build list"]
    assert WARNING not in page_text(at)
    assert not [t for t in at.text_input if t.label == "App password"]
    assert not [b for b in at.button if b.label == "Sign in"]


@pytest.mark.slow
def test_demo_mode_ignores_a_configured_password(data_dir, server_state):
    at = run(session(data_dir, password=PASSWORD))
    assert [t.value for t in at.title] == ["Build list"]


@pytest.mark.slow
@pytest.mark.parametrize("page", ["settings", "review_send", "build_list"])
@pytest.mark.parametrize("mode", ["password", "oidc"])
def test_a_direct_link_in_a_fresh_server_process_is_gated(data_dir, sandbox, mode, page):
    """No `server_state` fixture: every AppTest run is what the first runs of a fresh process are.
    The views live in views/, not pages/: a pages/ folder next to main.py would make Streamlit
    run a page file directly (its legacy multipage mode), skipping main.py and its gate."""
    if mode == "password":
        at = run(session(data_dir, sandbox, password=PASSWORD))
    else:
        at = run(session(data_dir, sandbox, auth=FAKE_AUTH, user={"is_logged_in": False}))
    assert_only_the_gate(at)
    go(at, page)
    assert_only_the_gate(at)


# -- OIDC ([auth] in the secrets) -------------------------------------------------------------
def test_oidc_not_logged_in_shows_only_sign_in(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, auth=FAKE_AUTH, password=PASSWORD, user={"is_logged_in": False}))
    assert_only_the_gate(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.text_input, "with [auth] the password form is not offered"
    assert "Sign in to send gifts." in texts(at.markdown)
    assert not sandbox.requests


# (id, email, GIFTRUN_ALLOWED_DOMAINS, allowed)
OIDC_USERS = [
    ("allowed-domain", "ann@team.example", "team.example", True),
    ("one-of-several", "bob@partner.example", "team.example, partner.example", True),
    ("upper-case-email", "Ann@Team.Example", "team.example", True),
    ("other-domain", "eve@evil.example", "team.example", False),
    ("sub-domain", "ann@eu.team.example", "team.example", False),
    ("no-allow-list", "anyone@anywhere.example", None, True),
]


@pytest.mark.slow
@pytest.mark.parametrize("email,domains,allowed", [c[1:] for c in OIDC_USERS], ids=[c[0] for c in OIDC_USERS])
def test_oidc_signed_in_user_and_the_domain_allow_list(data_dir, sandbox, server_state, email, domains, allowed):
    at = run(
        session(
            data_dir,
            sandbox,
            auth=FAKE_AUTH,
            domains=domains,
            user={"is_logged_in": True, "email": email, "name": "Test User"},
        )
    )
    if allowed:
        assert [t.value for t in at.title] == ["Build list"]
        assert f"Signed in as {email}" in texts(at.sidebar.caption)
        assert at.session_state["giftrun_actor"] == email
        assert WARNING not in page_text(at)
    else:
        assert [t.value for t in at.title] == []
        error = texts(at.error)
        assert f"{email} is not allowed to use this Giftrun" in error and "team.example" in error
        assert [b.label for b in at.button] == ["Sign out"]
        text = page_text(at)
        assert "Build list" not in text and "&Open key" not in text
        assert not elements(at.sidebar)
        assert not sandbox.requests


@pytest.mark.slow
def test_oidc_signed_in_without_an_email_is_refused_by_an_allow_list(data_dir, sandbox, server_state):
    at = run(
        session(
            data_dir, sandbox, auth=FAKE_AUTH, domains="team.example", user={"is_logged_in": True, "name": "No Email"}
        )
    )
    assert "This account is not allowed" in texts(at.error)
    assert "Build list" not in page_text(at)


@pytest.mark.slow
def test_oidc_sign_out_returns_to_the_sign_in_screen(data_dir, sandbox, server_state):
    at = run(session(data_dir, sandbox, auth=FAKE_AUTH, user={"is_logged_in": True, "email": "ann@team.example"}))
    assert [t.value for t in at.title] == ["Build list"]
    at.button(key="signout").click()
    run(at)
    run(at)
    assert_only_the_gate(at)
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.mark.slow
def test_oidc_user_is_the_runs_sender(data_dir, sandbox, server_state):
    at = run(
        session(
            data_dir,
            sandbox,
            auth=FAKE_AUTH,
            domains="team.example",
            user={"is_logged_in": True, "email": "ann@team.example"},
        )
    )
    send_sample(at)
    assert [r.actor for r in services().store.runs()] == ["ann@team.example"]


# == limits ==========================================================================================
def exactly(size: int) -> bytes:
    """A valid CSV of exactly `size` bytes with fewer than MAX_ROWS rows."""
    header = b"First Name,Last Name,Email,Notes\n"
    row_len = 1200
    body_size = size - len(header)
    n, rest = divmod(body_size, row_len)
    assert n < csvio.MAX_ROWS

    def row(i: int, length: int) -> bytes:
        start = f"Ada,Lovelace,ada{i}@example.com,".encode()
        return start + b"x" * (length - len(start) - 1) + b"\n"

    rows = [row(i, row_len) for i in range(n - 1)] + [row(n, row_len + rest)]
    data = header + b"".join(rows)
    assert len(data) == size
    return data


@pytest.mark.slow
def test_an_upload_over_the_size_limit_gets_a_clear_message():
    data = b"First Name,Last Name,Email\n" + b"x" * csvio.MAX_LIST_BYTES
    with pytest.raises(csvio.CsvError) as info:
        csvio.read_csv_bytes(data, name="big.csv")
    assert str(info.value) == (
        f"The file is {len(data):,} bytes; a list can hold up to {csvio.MAX_LIST_BYTES:,} bytes "
        f"(20 MB) of your own data. Split it into smaller files."
    )
    frame = csvio.read_csv_bytes(exactly(csvio.MAX_LIST_BYTES), name="at-the-limit.csv")  # the limit itself is fine
    assert len(frame) == (csvio.MAX_LIST_BYTES - len("First Name,Last Name,Email,Notes\n")) // 1200


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # sparse: 200 MB on paper, nothing on disk
        fh.truncate(10 * csvio.MAX_LIST_BYTES)
    with pytest.raises(csvio.CsvError, match=r"The file is 209,715,200 bytes; a list can hold up to 20,971,520 bytes"):
        csvio.read_csv_path(path)


def rows_csv(n: int) -> bytes:
    return b"First Name,Last Name,Email\n" + b"".join(b"Ada,Lovelace,ada%d@example.com\n" % i for i in range(n))


@pytest.mark.slow
def test_a_list_over_the_row_limit_gets_a_clear_message():
    assert len(csvio.read_csv_bytes(rows_csv(csvio.MAX_ROWS))) == csvio.MAX_ROWS
    with pytest.raises(csvio.CsvError) as info:
        csvio.read_csv_bytes(rows_csv(csvio.MAX_ROWS + 1))
    assert str(info.value) == (
        f"The file has more than {csvio.MAX_ROWS:,} people; the limit is "
        f"{csvio.MAX_ROWS:,} rows. Split it into smaller files."
    )


def test_blank_rows_do_not_count_towards_the_row_limit():
    data = rows_csv(csvio.MAX_ROWS) + b",,\n" * 50 + b"\n" * 50
    assert len(csvio.read_csv_bytes(data)) == csvio.MAX_ROWS


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,data,message",
    [
        (
            "too-big.csv",
            b"First Name,Last Name,Email\n" + b"x" * csvio.MAX_LIST_BYTES,
            "up to 20,971,520 bytes (20 MB)",
        ),
        ("too-long.csv", rows_csv(csvio.MAX_ROWS + 1), "the limit is 20,000 rows"),
    ],
    ids=["size", "rows"],
)
def test_the_build_list_uploader_shows_the_limit_message(data_dir, server_state, name, data, message):
    at = run(session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value((name, data, "text/csv"))
    run(at)
    at.button(key="use_upload").click()
    run(at)
    assert message in texts(at.error)
    assert at.session_state.get("giftrun_list") is None
    assert not at.dataframe, "nothing was loaded"


def delivery(body: bytes, secret: str) -> dict:
    ts = int(time.time())
    return {
        "AndOpen-Webhook-Signature": sign(secret, ts, body),
        "AndOpen-Webhook-Dispatch-Timestamp": str(ts),
        "AndOpen-Webhook-Event-Id": str(uuid.uuid4()),
        "AndOpen-Webhook-Event-Type": "gift_request_created",
        "Content-Type": "application/json",
    }


def _chunks(data: bytes, size: int = 32 * 1024):
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_webhook_body_over_the_cap_gets_413_with_a_clear_message(tmp_path, streamed):
    secret = "whsec_limits_" + uuid.uuid4().hex
    client = TestClient(receiver_app(backends.store(tmp_path / "data"), secret))
    body = b'{"id": "g-1", "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'  # correctly signed, just too big
    resp = client.post("/webhooks/andopen", content=_chunks(body) if streamed else body, headers=delivery(body, secret))
    assert resp.status_code == 413
    assert resp.json() == {"error": f"body larger than {MAX_BODY_BYTES} bytes"}
    assert client.get("/webhooks/health").json()["events"] == {"accepted": 0, "duplicate": 0, "rejected": 0}

    small = b'{"id": "g-1", "status": "submitted"}'
    assert client.post("/webhooks/andopen", content=small, headers=delivery(small, secret)).status_code == 200


@pytest.mark.usefixtures("store_backend")
def test_a_smaller_configured_cap_is_the_one_named(tmp_path):
    secret = "whsec_limits_" + uuid.uuid4().hex
    client = TestClient(receiver_app(backends.store(tmp_path / "data"), secret, max_bytes=100))
    body = b'{"id": "g-1", "status": "submitted", "padding": "' + b"x" * 100 + b'"}'
    resp = client.post("/webhooks/andopen", content=body, headers=delivery(body, secret))
    assert (resp.status_code, resp.json()) == (413, {"error": "body larger than 100 bytes"})


def test_one_guessing_client_is_locked_out_but_not_the_rest_of_the_team():
    now = [1000.0]
    gate = PasswordGate(Secret("s3cret-pass"), clock=lambda: now[0])
    for _ in range(5):
        gate.check("guess", client="203.0.113.9")
    assert "Too many" in gate.check("s3cret-pass", client="203.0.113.9").message
    assert gate.check("s3cret-pass", client="198.51.100.7").ok, "a teammate elsewhere is not locked out"
    now[0] += 61
    assert gate.check("s3cret-pass", client="203.0.113.9").ok


def test_many_clients_guessing_lock_everyone_for_a_while():
    now = [1000.0]
    gate = PasswordGate(Secret("s3cret-pass"), max_failures=5, global_factor=10, clock=lambda: now[0])
    for i in range(50):  # 50 clients, one wrong try each: nobody reaches their own limit
        gate.check("guess", client=f"client-{i}")
    assert "Too many" in gate.check("s3cret-pass", client="a-teammate").message
    now[0] += 61
    assert gate.check("s3cret-pass", client="a-teammate").ok
