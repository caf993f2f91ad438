"""The CLI says only what is true: `send --dry-run` lists every row with what would happen to
it; `status` pointed at a store that never recorded these gifts (another folder, schema or
database, or the live store instead of a sandbox's) says so, exits 2 and creates nothing; after
a database fault the summary counts the gift &Open created, and the fault is one line, its log
lines only with --verbose."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from lib.store.database import normalise_url
from tests import backends
from tests.support import TcpProxy, cli_env, cli_in_process, gift_counts, posts, until, write_people

pytestmark = pytest.mark.usefixtures("store_backend")

ROWS = [  # row numbers as the spreadsheet shows them: the header is row 1
    ["Ana", "Bauer", "ana@example.com", "yes"],  # 2 would be sent
    ["Bo", "Kim", "not-an-email", "yes"],  # 3 invalid
    ["Cy", "Lee", "cy@example.com", "no"],  # 4 not approved
    ["Di", "Fox", "ana@example.com", "yes"],  # 5 duplicate of 2
    ["Ed", "Gray", "ed@example.com", "yes"],  # 6 would be sent
]


def write_list(path, rows=ROWS) -> None:
    write_people(path, rows)


def test_a_dry_run_lists_every_row_with_what_would_happen(tmp_path, make_sandbox):
    sb = make_sandbox()
    write_list(tmp_path / "list.csv")
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    proc = cli_in_process(tmp_path, env, "send", "list.csv", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    rows = [line.strip() for line in proc.stdout.splitlines() if line.startswith("  row ")]
    assert [r.split(":")[0] for r in rows] == [f"row {n} {r[2]}" for n, r in enumerate(ROWS, 2)], proc.stdout
    assert rows[0] == "row 2 ana@example.com: would be sent" and rows[4] == "row 6 ed@example.com: would be sent"
    assert rows[1].startswith("row 3 not-an-email: invalid — ")
    assert rows[2] == "row 4 cy@example.com: not approved"
    assert rows[3].startswith("row 5 ana@example.com: duplicate — Same email as row 2, ")
    assert posts(sb) == []


def _schemas(prefix: str) -> list[str]:
    engine = sa.create_engine(normalise_url(backends.database_url() or ""), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            q = "SELECT schema_name FROM information_schema.schemata WHERE starts_with(schema_name, :p)"
            return [r[0] for r in conn.execute(sa.text(q), {"p": prefix})]
    finally:
        engine.dispose()


def assert_nothing_created(folder) -> None:
    if backends.current() == "postgres":
        assert _schemas(backends.schema_for(folder)) == [], "an empty schema was left behind"
    else:
        assert not folder.exists(), "a store folder was created"


@pytest.mark.slow
@pytest.mark.parametrize("args", [["status", "--poll"], ["status", "list.csv", "--poll"], ["status", "list.csv"]])
def test_status_pointed_at_another_store_exits_2_and_creates_nothing(tmp_path, make_sandbox, args):
    sb = make_sandbox()
    write_list(tmp_path / "list.csv")
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    assert cli_in_process(tmp_path, env, "send", "list.csv").returncode == 0
    before = (tmp_path / "list.csv").read_bytes()

    other = cli_env(tmp_path / "other", sb)  # another folder, or another schema of the same database
    proc = cli_in_process(tmp_path, other, *args)
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith("error: There is no Giftrun store at ") and proc.stderr.count("\n") == 1
    assert "GIFTRUN_DATABASE_SCHEMA" in proc.stderr and "ANDOPEN_BASE_URL" in proc.stderr
    assert "Polled" not in proc.stdout
    assert_nothing_created(tmp_path / "other")
    assert (tmp_path / "list.csv").read_bytes() == before
    assert [r for r in sb.requests if r.method == "GET" and "/gift_requests/" in r.path] == [], "nothing polled"


@pytest.mark.single_backend  # the default folder: a sandbox's store is `.giftrun/sandbox` beside the live one
def test_status_with_the_live_base_url_after_sandbox_sends_creates_no_live_store(tmp_path, make_sandbox):
    sb = make_sandbox()
    write_list(tmp_path / "list.csv")
    env = cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0], GIFTRUN_DATA_DIR=None)
    assert cli_in_process(tmp_path, env, "send", "list.csv").returncode == 0
    assert (tmp_path / ".giftrun" / "sandbox" / "giftrun.sqlite3").is_file()
    live = {**env, "ANDOPEN_BASE_URL": "https://api.staging.andopen.co"}  # the sandbox's key is staging-shaped
    for args in (["status", "--poll"], ["status", "list.csv", "--poll"]):
        proc = cli_in_process(tmp_path, live, *args)
        assert proc.returncode == 2 and "a sandbox's gifts are kept in a store of their own" in proc.stderr, proc
    assert not (tmp_path / ".giftrun" / "giftrun.sqlite3").exists(), "a live store was created"


@pytest.mark.slow
def test_status_poll_with_a_store_that_knows_none_of_the_lists_gift_ids_exits_2(tmp_path, make_sandbox):
    sb = make_sandbox()
    write_list(tmp_path / "a.csv", ROWS[:1])
    write_list(tmp_path / "b.csv", ROWS[4:])
    a = cli_env(tmp_path / "store-a", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    b = cli_env(tmp_path / "store-b", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0])
    assert cli_in_process(tmp_path, a, "send", "a.csv").returncode == 0
    assert cli_in_process(tmp_path, b, "send", "b.csv").returncode == 0
    before = (tmp_path / "a.csv").read_bytes()
    proc = cli_in_process(tmp_path, b, "status", "a.csv", "--poll")  # a.csv's gift went through store A
    assert proc.returncode == 2, proc
    assert "None of the 1 gift ids in a.csv is known to the store at" in proc.stderr
    assert "GIFTRUN_DATABASE_SCHEMA" in proc.stderr and proc.stdout == ""
    assert (tmp_path / "a.csv").read_bytes() == before
    assert cli_in_process(tmp_path, a, "status", "a.csv", "--poll").returncode == 0, "the right store still works"


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_a_store_lost_after_andopen_created_the_gift_is_one_line_and_the_gift_counts(tmp_path, make_sandbox, verbose):
    """Real PostgreSQL behind a TCP proxy that is cut while &Open is creating the gift."""
    from lib.sandbox import Faults

    sb = make_sandbox(faults=Faults(latency=1.5))
    url = normalise_url(backends.database_url() or "")
    proxy = TcpProxy(url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    write_list(tmp_path / "list.csv", ROWS[:1])
    env = cli_env(
        tmp_path / "data",
        sb,
        ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0],
        GIFTRUN_DATABASE_URL=via_proxy,
        GIFTRUN_DATABASE_RETRY_SECONDS="1",  # the store does not come back: a short pause, then the stop
    )
    result = {}
    args = ["send", "list.csv", *(["--verbose"] if verbose else [])]
    worker = threading.Thread(target=lambda: result.setdefault("proc", cli_in_process(tmp_path, env, *args)))
    worker.start()
    assert until(lambda: posts(sb), timeout=30), "the gift was never requested"
    proxy.cut()  # the store goes away while &Open is creating the gift
    worker.join(120)
    proc = result["proc"]
    assert gift_counts(sb) == {"ana@example.com": 1}
    said = proc.stdout + proc.stderr
    assert "Sent 0 " not in said and "journalled" not in said, said
    assert "Sent 1 " in said and "1 results are on their rows but not in the journal yet" in said, said
    assert proc.returncode == 1 and said.count("Run stopped: ") == 1, said  # one line says why it stopped
    log_lines = [line for line in proc.stderr.splitlines() if line.startswith(("ERROR", "WARNING", "DEBUG"))]
    if verbose:
        assert any("lib." in line for line in log_lines), proc.stderr  # what went wrong, for whoever digs
    else:
        assert log_lines == [], proc.stderr
