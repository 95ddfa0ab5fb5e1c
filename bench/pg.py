"""A throw-away PostgreSQL server for benchmarks and tests (tests/pg.py wraps it in a fixture).

initdb refuses to run as root, so under root the server runs as the `postgres` system user
(via runuser) in a private temporary directory owned by it.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from bench.common import free_port

PG_BIN_GLOBS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/*/bin"]


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    for pattern in PG_BIN_GLOBS:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
                return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def skip_reason() -> str | None:
    """Why no server can be started here, or None."""
    if pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found; install the `postgresql` package"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser, and initdb refuses root"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run initdb as"
    return None


class PostgresServer:
    def __init__(self, root: Path, port: int, as_user: list[str]):
        self.root, self.port, self._as_user = root, port, as_user

    def _run(self, *cmd: str) -> None:
        result = subprocess.run([*self._as_user, *cmd], capture_output=True, text=True, timeout=120)
        if result.returncode:
            log = self.root / "server.log"
            raise RuntimeError(f"{cmd[0]} failed: {result.stderr.strip()}\n"
                               f"{log.read_text() if log.exists() else ''}")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._run(str(pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_server(durable: bool = False):
    """Start a server on a free localhost port (trust auth), stop and delete it afterwards.

    ``durable=False`` turns fsync off, which is fine for tests; benchmarks pass True.
    """
    reason = skip_reason()
    if reason:
        raise RuntimeError(reason)
    # Directly under /tmp: pytest's tmp dirs sit in a root-only folder the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="visclust-pg-"))
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(root, free_port(), as_user)
    data = root / "data"
    options = f"-p {server.port} -h 127.0.0.1 -k {root} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    bin_ = pg_bin()
    try:
        server._run(str(bin_ / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8", "--locale=C")
        server._run(str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options,
                    "-w", "-t", "60", "start")
        try:
            yield server
        finally:
            subprocess.run([*as_user, str(bin_ / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)

