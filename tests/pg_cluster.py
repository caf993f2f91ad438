"""A private, throw-away PostgreSQL cluster for tests that stop, restart or starve the server.

Never the shared server in GIFTRUN_TEST_DATABASE_URL: other tests use it in parallel. The
cluster is made with initdb in a fresh folder, listens on 127.0.0.1 only at a free port, and is
stopped and removed in teardown. Without PostgreSQL binaries the tests are skipped, except
with CI=true, where they must run."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """`start()`, `stop(mode)`, `restart()`, `sql(text)`; `url` for Giftrun."""

    def __init__(self, bin_dir: Path, *, max_connections: int = 40) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="giftrun-pg-"))  # under /tmp: the postgres user can reach it
        self.data = self.root / "data"
        self.port = _free_port()
        self.max_connections = max_connections
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            f"-c max_connections={self.max_connections} -c superuser_reserved_connections=0"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")

    def ensure_running(self) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        if subprocess.run(cmd, capture_output=True, timeout=30).returncode != 0:
            self.start()

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def sql(self, text: str) -> list:
        """Run one statement as the superuser on a connection of its own; the rows it returned."""
        url = self.url.replace("postgresql://", "postgresql+psycopg://")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                result = conn.execute(sa.text(text))
                rows = result.all() if result.returns_rows else []
                conn.commit()
                return rows
        finally:
            engine.dispose()

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


def private_cluster() -> Iterator[PgCluster]:
    """A started private cluster, removed afterwards: a module's fixture
    (`cluster = pytest.fixture(scope="module")(private_cluster)`); tests use schemas of their own."""
    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but no PostgreSQL binaries under /usr/lib/postgresql: the fault tests must run")
        pytest.skip("no PostgreSQL binaries (apt-get install postgresql)")
    cluster = PgCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
