"""The command line itself: typed options, one-line refusals, and `main` with its one `except`."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence

from .. import eligibility as elig
from .. import guardrails
from ..control_chars import visible
from ..errors import GiftrunError
from ..recipients import YES_TEXT
from ..sandbox_limiters import LimiterKind
from ..sending import DEFAULT_RATE, MAX_CONCURRENCY
from ..settings import Settings
from .commands import (
    cmd_campaigns,
    cmd_do_not_gift,
    cmd_sandbox,
    cmd_status,
    cmd_store_copy,
    cmd_store_info,
    cmd_webhooks,
)
from .common import EXIT_INPUT, EXIT_OK, EXIT_STOPPED, _err
from .invite import cmd_invite, cmd_send_and_invite


def _number(kind: type, low: float, high: float, unit: str = ""):
    """An argparse type: a finite number of `kind` within [low, high], or a one-line refusal.
    nan, inf, 1e-300 and 10**12 all get the same clear answer instead of a hang or a crash."""

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(
                f"'{visible(text)}' is not allowed: give {what} from {low:g} to {high:g}"
                + (f" ({unit})" if unit else "")
                + "."
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


RATE = _number(float, 0.1, 1000, "requests per second")
CONCURRENCY = _number(int, 1, MAX_CONCURRENCY, "requests in flight")
PORT = _number(int, 1, 65535)
SANDBOX_PORT = _number(int, 0, 65535, "0 picks a free port")
SHARE = _number(float, 0, 1, "a share: 0.05 is 5%")
SECONDS = _number(float, 0, 3600, "seconds")
MAX_GIFTS = _number(int, 1, guardrails.MAX_GIFTS_CEILING, "gifts in this run")


class _Parser(argparse.ArgumentParser):
    """argparse, but every refusal is one line (no usage block) and echoes no raw control
    characters from the command line."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        self.exit(EXIT_INPUT, f"error: {visible(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m lib.cli", description="Giftrun: send &Open gifts to a reviewed list.")
    sub = p.add_subparsers(dest="command", required=True)
    _add_send(sub)
    _add_lists_and_store(sub)
    _add_servers(sub)
    _add_verbose(p)
    return p


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """`--verbose` on every command, where people type it (`send list.csv --verbose`)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        parser.add_argument(
            "--verbose", action="store_true", help="also print the log lines behind a message (for a bug report)"
        )
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            _add_verbose(child)


def _list_args(sp: argparse.ArgumentParser, optional: bool = False) -> None:
    sp.add_argument("source", nargs="?" if optional else None, help="a CSV file path or a Google Sheet URL")
    sp.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="use COLUMN for FIELD (first_name, last_name, email, approved)",
    )
    sp.add_argument("--worksheet", help="worksheet title (Google Sheets; default: the first)")


def _add_send(sub) -> None:
    s = sub.add_parser(
        "send",
        help="send approved, eligible, unsent rows and write results back",
        description=f"Send a gift to each approved, valid, eligible row never sent. An Approved cell "
        f"of {YES_TEXT} (any case) approves its row.",
    )
    _list_args(s)
    s.add_argument("--campaign", help="campaign id (default: ANDOPEN_CAMPAIGN_ID)")
    s.add_argument("--rate", type=RATE, default=DEFAULT_RATE, help="requests per second (default %(default)s)")
    s.add_argument("--concurrency", type=CONCURRENCY, default=MAX_CONCURRENCY, help=argparse.SUPPRESS)  # most in flight
    s.add_argument(
        "--lookback",
        default=elig.DEFAULT,
        help="skip people gifted within: off, 30d, 60d, 90d, 12m, forever or Nd (default %(default)s)",
    )
    s.add_argument(
        "--clear-unknown",
        action="append",
        metavar="EMAIL",
        help="after checking &Open: allow this person's unknown-outcome row to be sent again",
    )
    s.add_argument("--actor", help="who is sending (audit trail; default GIFTRUN_ACTOR, else cli)")
    s.add_argument("--dry-run", action="store_true", help="show what would be sent; send and write nothing")
    s.add_argument(
        "--overwrite-columns",
        action="store_true",
        help="write results into the list's own columns named like them (Eligibility, Sent at…) even where they "
        "hold values Giftrun did not write; without it those are kept and Giftrun adds 'Eligibility (Giftrun)'…",
    )
    s.add_argument(
        "--max-gifts",
        type=MAX_GIFTS,
        default=None,
        metavar="N",
        help="send at most N gifts in this run; the approved rows beyond say why",
    )
    s.add_argument("--invite", action="store_true", help="after the gifts, email each new gift's invitation")
    s.add_argument("--template", help="with --invite: the invitation template file")
    s.set_defaults(func=cmd_send_and_invite)
    _add_invite(sub)


def _add_invite(sub) -> None:
    i = sub.add_parser(
        "invite",
        help="email each approved row that has a gift its redemption link, from GIFTRUN_SMTP_URL's mailbox",
        description="Email every approved row that has a gift id and a redemption link and no invitation yet. "
        "A template file: 'Subject: …', a blank line, the body, with {first_name}, {last_name}, {email}, "
        "{redemption_url}, {sender_name}, {message} and any column as {Header}.",
    )
    _list_args(i)
    i.add_argument("--template", help="the invitation template file")
    i.add_argument("--dry-run", action="store_true", help="show who would be emailed and the first email; send nothing")
    i.add_argument("--max", type=MAX_GIFTS, default=None, metavar="N", help="email at most N people in this run")
    i.add_argument(
        "--test-to",
        metavar="ADDRESS",
        help="send one test email (the first row's, [Test] in its subject) to ADDRESS only",
    )
    i.add_argument(
        "--remind-after",
        metavar="DURATION",
        help="send reminders instead: to gifts still Submitted this long after their invitation (5d, 36h)",
    )
    i.add_argument("--reminder-template", help="with --remind-after: the reminder template file")
    i.add_argument(
        "--clear-unknown-invite",
        action="append",
        metavar="EMAIL",
        help="after checking: this person's unknown email may be sent again",
    )
    i.add_argument("--actor", help="who is sending (audit trail; default GIFTRUN_ACTOR, else cli)")
    i.set_defaults(func=cmd_invite)


def _add_lists_and_store(sub) -> None:
    d = sub.add_parser(
        "do-not-gift", help="people (emails) and domains (@example.com) never to gift: add, remove, list, import"
    )
    d_sub = d.add_subparsers(dest="dng_command", required=True)
    da = d_sub.add_parser("add", help="add a person or a whole domain (@example.com, subdomains included)")
    da.add_argument("value", help="an email (ana@example.com) or a domain (@example.com)")
    da.add_argument("--reason", default="", help="why (shown on every row it blocks)")
    dr = d_sub.add_parser("remove", help="remove an entry (recorded in the audit trail)")
    dr.add_argument("value")
    di = d_sub.add_parser("import", help="add every entry of a CSV (columns Email or Domain or Value, and Reason)")
    di.add_argument("file")
    for sp in (da, dr, di):
        sp.add_argument("--actor", help="who (audit trail; default GIFTRUN_ACTOR, else cli)")
    d_sub.add_parser("list", help="every entry, with its reason, who added it and when")
    d.set_defaults(func=cmd_do_not_gift)

    st_ = sub.add_parser(
        "status",
        help="write each row's latest Gift status onto SOURCE; with no SOURCE and "
        "--poll, refresh every gift in the store",
    )
    _list_args(st_, optional=True)
    st_.add_argument("--poll", action="store_true", help="first ask &Open for every gift not yet final")
    st_.add_argument("--rate", type=RATE, default=5.0, help="polling requests per second")
    st_.set_defaults(func=cmd_status)

    sto = sub.add_parser("store", help="the store: `info`, or `copy` a local SQLite store into a database")
    store_sub = sto.add_subparsers(dest="store_command", required=True)
    info = store_sub.add_parser("info", help="which store is in use, its schema version and what it holds")
    info.set_defaults(func=cmd_store_info)
    cp = store_sub.add_parser("copy", help="copy the SQLite store into a PostgreSQL database (idempotent)")
    cp.add_argument("--to", help="postgresql://… (default: GIFTRUN_DATABASE_URL)")
    cp.add_argument("--from", dest="from_folder", help="the folder holding giftrun.sqlite3 (default: GIFTRUN_DATA_DIR)")
    cp.add_argument("--schema", help="the database schema (default: GIFTRUN_DATABASE_SCHEMA or giftrun)")
    cp.set_defaults(func=cmd_store_copy)

    c = sub.add_parser("campaigns", help="list the campaigns the key can use")
    c.set_defaults(func=cmd_campaigns)


def _add_servers(sub) -> None:
    w = sub.add_parser("webhooks", help="run the standalone webhook receiver")
    w.add_argument("--port", type=PORT, default=8502)
    w.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept from other hosts")
    w.set_defaults(func=cmd_webhooks)

    sb = sub.add_parser("sandbox", help="run the fake &Open server on its own")
    sb.add_argument("--port", type=SANDBOX_PORT, default=8600)
    sb.add_argument("--token", help="token the sandbox accepts (default: a fixed staging-shaped token)")
    sb.add_argument("--latency", type=SECONDS, default=0.0, help="seconds added to every request")
    sb.add_argument("--rate-limit", type=RATE, default=None, help="gift requests/s before 429")
    sb.add_argument(
        "--limiter",
        choices=[k.value for k in LimiterKind],
        default=LimiterKind.TOKEN_BUCKET.value,
        help="how --rate-limit is kept: a token bucket (burst of one second), a fixed one-second window "
        "or a sliding one-second window (default %(default)s)",
    )
    sb.add_argument(
        "--no-retry-after", dest="retry_after", action="store_false", help="answer 429 without a Retry-After header"
    )
    sb.add_argument("--p503", type=SHARE, default=0.0, help="share answered 503 (nothing created)")
    sb.add_argument("--p500-after-create", type=SHARE, default=0.0, help="share answered 500 after creating")
    sb.add_argument("--p-hang", type=SHARE, default=0.0, help="share that hang after creating")
    sb.add_argument("--hang-seconds", type=SECONDS, default=30.0)
    sb.add_argument("--seed", type=_number(int, 0, 2**63 - 1), default=None)
    sb.add_argument("--lifecycle", action="store_true", help="gifts move to redeemed, dispatched, delivered")
    sb.add_argument(
        "--speed", type=_number(float, 0.01, 10000, "speed-up factor"), default=1.0, help="lifecycle speed-up factor"
    )
    sb.add_argument("--webhook-url", help="deliver signed webhooks here")
    sb.add_argument("--webhook-secret", help="secret to sign with (default ANDOPEN_WEBHOOK_SECRET)")
    sb.set_defaults(func=cmd_sandbox)


class _Quiet(logging.Filter):
    """Without --verbose, what Giftrun's own modules log is left out: an expected failure reaches
    the user once, as the command's one line, not also as log lines before it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("lib.")


class _NoTraceback(logging.Formatter):
    """The CLI promises one clear line per problem, never a traceback."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        return visible(super().format(record).rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_NoTraceback("%(levelname)s %(name)s: %(message)s"))
    if not getattr(args, "verbose", False):
        handler.addFilter(_Quiet())
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING, handlers=[handler])
    try:
        settings = Settings.from_env()
        if "actor" in vars(args) and not args.actor:
            args.actor = settings.actor or "cli"
        return args.func(args, settings)
    except GiftrunError as exc:  # each says what to do, and how the command ends
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # `… | head`: the reader left; not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise
        return EXIT_OK
    except Exception as exc:  # a bug: say so plainly, keep the details in the log file
        logging.getLogger("giftrun").debug("unexpected", exc_info=True)
        _err(f"unexpected {type(exc).__name__}: {exc}. Everything sent so far is journalled.")
        return EXIT_STOPPED
