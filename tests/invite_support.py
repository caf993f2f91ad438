"""What the invitation CLI tests share: a list of four people (three approved), an invitation
template using every kind of placeholder, a real SMTP server on 127.0.0.1 (`mail`), and `invite_cli`,
which runs `python -m lib.cli` in process against the sandbox and that server (conftest.py
offers both fixtures to every module)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.smtp_server import Faults, start_server
from tests.support import cli_env, cli_in_process

TEMPLATE = """Subject: A gift for you, {first_name}

Hi {first_name},

{message}

{Company} would like to send you a gift: {redemption_url}

{sender_name}
"""
HEADER = "First Name,Last Name,Email,Company,Message,Approved\r\n"
ROWS = [
    "Ana,Lima,ana@example.com,Acme,Thanks for the call!,yes\r\n",
    'Bo,Li,bo@example.com,"Acme, Inc.",,yes\r\n',
    "Cy,Wu,cy@example.com,Initech,,yes\r\n",
    "Di,Ox,di@example.com,Acme,,no\r\n",
]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def received(server) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in server.messages())


@pytest.fixture
def mail():
    servers = []

    def start(faults: Faults | None = None, **kwargs):
        servers.append(start_server(faults, **kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def invite_cli(tmp_path, make_sandbox, mail):
    sb, server = make_sandbox(), mail()
    (tmp_path / "list.csv").write_bytes((HEADER + "".join(ROWS)).encode())
    (tmp_path / "invite.txt").write_text(TEMPLATE, encoding="utf-8")
    env = cli_env(
        tmp_path / "data",
        sb,
        ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0],
        GIFTRUN_SMTP_URL=server.url,
        GIFTRUN_INVITE_FROM="Ana Rep <rep@team.example>",
        GIFTRUN_EMAIL_RATE="3000",
    )

    def run(*args: str, **extra: str | None):
        merged = {**env, **extra}
        return cli_in_process(tmp_path, {k: v for k, v in merged.items() if v is not None}, *args)

    run.sandbox, run.server, run.env = sb, server, env
    return run
