"""The invitation run against a real SMTP server on loopback and a real store (SQLite and
PostgreSQL), on a fake clock: evenly paced, a 421 retried later at a slower pace, a 550 said on
its row while the run goes on, a dropped connection after the message left as unknown and never
re-sent, a refused password stopping the run before any email, the daily limit, Stop and --max."""

from __future__ import annotations

import pytest

from lib.invitations import BACKOFF, InviteRun
from lib.invite_plan import InviteItem
from lib.invite_template import parse_template
from lib.mailer import SmtpMailer
from lib.smtp_url import parse_sender, parse_smtp_url
from lib.store.invitations import InviteKind, InviteState
from lib.writeback import INVITATION_ERROR, INVITATION_SENT_AT
from tests.smtp_server import Faults, start_server
from tests.support import RecordingSink, until

SENDER = parse_sender("Ana Rep <rep@team.example>")
TEMPLATE = parse_template("Subject: For {first_name}\n\nHi {first_name}: {redemption_url}\n{sender_name}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


class TimedMailer(SmtpMailer):
    """The real transport, noting the fake clock at each message handed to it."""

    def __init__(self, url, clock: FakeClock) -> None:
        super().__init__(parse_smtp_url(url), timeout=5)
        self.clock, self.times = clock, []

    def send(self, message, sender, recipient):
        self.times.append(self.clock())
        super().send(message, sender, recipient)


def items(n: int, emails: list[str] | None = None) -> list[InviteItem]:
    emails = emails or [f"p{i}@example.com" for i in range(n)]
    return [
        InviteItem(
            str(i),
            i + 1,
            e,
            f"P{i}",
            f"gift-{i}",
            {"first_name": f"P{i}", "redemption_url": f"https://andopen.example/r/{i}", "sender_name": SENDER.name},
        )
        for i, e in enumerate(emails)
    ]


@pytest.fixture
def smtp():
    started = []

    def start(faults: Faults | None = None, **kwargs):
        server = start_server(faults, **kwargs)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def new_run(store, url, todo, clock: FakeClock, **kwargs) -> tuple[InviteRun, TimedMailer, RecordingSink]:
    mailer, sink = TimedMailer(url, clock), RecordingSink()
    run = InviteRun(
        store, mailer, "list:a", todo, TEMPLATE, SENDER, clock=clock, sleep=clock.sleep, sink=sink, **kwargs
    )
    run.begin()
    return run, mailer, sink


@pytest.mark.slow
def test_emails_are_spread_evenly_at_the_rate_and_each_row_says_when(store, smtp):
    server, clock = smtp(), FakeClock()
    run, mailer, sink = new_run(store, server.url, items(10), clock, rate_per_minute=30)
    p = run.execute()
    assert (p.state, p.sent) == ("completed", 10)
    gaps = [round(b - a, 6) for a, b in zip(mailer.times, mailer.times[1:])]
    assert gaps == [2.0] * 9  # 30 a minute: one every 2 s, never a burst
    assert len(server.messages()) == 10
    rows = sink.rows()
    assert all(
        rows[str(i)][INVITATION_SENT_AT].endswith("UTC") and rows[str(i)][INVITATION_ERROR] == "" for i in range(10)
    )


@pytest.mark.slow
def test_a_421_is_retried_later_at_a_slower_pace_then_sent(store, smtp):
    server, clock = smtp(Faults(busy_first=1)), FakeClock()
    run, mailer, _sink = new_run(store, server.url, items(3), clock, rate_per_minute=60)
    p = run.execute()
    assert (p.sent, p.retries, p.failed) == (3, 1, 0)
    assert BACKOFF[0] in clock.sleeps
    assert mailer.times[2] - mailer.times[1] == pytest.approx(1.5)  # one a second, now 1.5 s apart
    assert sorted(m.rcpt_tos[0] for m in server.messages()) == ["p0@example.com", "p1@example.com", "p2@example.com"]


@pytest.mark.slow
def test_a_550_for_one_address_is_said_on_its_row_and_the_run_goes_on(store, smtp):
    faults = Faults(refuse={"gone@example.com": "550 5.1.1 <gone@example.com>: mailbox unavailable"})
    server, clock = smtp(faults), FakeClock()
    run, _mailer, sink = new_run(
        store, server.url, items(3, ["a@example.com", "gone@example.com", "c@example.com"]), clock
    )
    p = run.execute()
    assert (p.sent, p.refused) == (2, 1)
    assert sink.rows()["1"] == {
        INVITATION_ERROR: "Refused by the mail server: 550 5.1.1 <gone@example.com>: mailbox unavailable."
    }
    assert store.invitations(list_key="list:a")[("gift-1", InviteKind.INVITATION)].state == InviteState.REFUSED


@pytest.mark.slow
def test_a_connection_dropped_after_the_message_is_unknown_and_never_sent_again(store, smtp):
    server, clock = smtp(Faults(drop_after_data={"b@example.com"})), FakeClock()
    todo = items(3, ["a@example.com", "b@example.com", "c@example.com"])
    run, _mailer, sink = new_run(store, server.url, todo, clock)
    p = run.execute()
    assert (p.sent, p.unknown) == (2, 1)
    assert sink.rows()["1"][INVITATION_ERROR].startswith("Unknown: the mail server may have accepted this email")
    again, _m, _s = new_run(store, server.url, todo, FakeClock())
    assert again.execute().skipped == 3  # the journal holds every one: nothing is sent twice
    received = [m.rcpt_tos[0] for m in server.messages()]
    assert sorted(received) == ["a@example.com", "b@example.com", "c@example.com"]


def test_a_refused_password_stops_the_run_before_any_email_or_journal_line(store, smtp, tmp_path):
    server, clock = smtp(tls_folder=tmp_path, auth=True), FakeClock()
    url = f"smtp://rep:wrong-pass@127.0.0.1:{server.port}"
    mailer = SmtpMailer(parse_smtp_url(url), ca_file=tmp_path / "smtp-cert.pem", timeout=5)
    run = InviteRun(store, mailer, "list:a", items(3), TEMPLATE, SENDER, clock=clock, sleep=clock.sleep)
    run.begin()
    p = run.execute()
    assert p.state == "stopped" and p.sent == 0 and "refused the user name or password" in p.message
    assert "wrong-pass" not in p.message and store.invitations(list_key="list:a") == {}
    assert server.messages() == []


@pytest.mark.slow
def test_the_daily_limit_stops_the_run_where_it_is_reached(store, smtp):
    server, clock = smtp(), FakeClock()
    run, _mailer, sink = new_run(store, server.url, items(4), clock, daily_limit=2)
    p = run.execute()
    assert (p.state, p.sent, p.limited) == ("stopped", 2, 2)
    assert "GIFTRUN_EMAIL_DAILY_LIMIT" in sink.rows()["3"][INVITATION_ERROR] and len(server.messages()) == 2


@pytest.mark.slow
def test_stop_ends_the_run_after_the_email_in_flight(store, smtp):
    server, clock = smtp(), FakeClock()
    run, _mailer, _sink = new_run(store, server.url, items(5), clock)

    def stopped_by_store(n: int) -> None:  # a Stop pressed in another process: heard through the store
        if n == 2:
            store.request_stop(run.run_id, "maria@team")
            until(lambda: run.snapshot().message, timeout=5)

    clock.on_sleep = stopped_by_store
    p = run.execute()
    assert p.state == "stopped" and p.message == "Stopped by maria@team." and p.sent == 2
    assert len(server.messages()) == 2


@pytest.mark.slow
def test_max_caps_the_emails_of_one_run(store, smtp):
    server, clock = smtp(), FakeClock()
    run, _mailer, sink = new_run(store, server.url, items(4), clock, max_emails=1)
    p = run.execute()
    assert (p.sent, p.limited, p.state) == (1, 3, "completed")
    assert sink.rows()["2"][INVITATION_ERROR] == "Not emailed: this run's limit of 1 emails was reached."
