"""A throw-away PostgreSQL server for the store tests (Debian's server binaries, run as the postgres user)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1; ``url`` is a SQLAlchemy URL; ``stop``/``start`` for fault tests."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            raise RuntimeError("PostgreSQL server binaries not found: run scripts/setup --dev (it installs them)")
        self.dir = Path(tempfile.mkdtemp(prefix="portrait-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]),
            check=True,
            capture_output=True,
        )
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres([self.pg_ctl, "-D", str(self.data), "-o", opts, "-w", "-l", str(self.dir / "log"), "start"]),
            check=True,
            capture_output=True,
        )
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"]), capture_output=True
        )

    def reset(self) -> None:
        """Drop every table so each test starts from an empty store."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        with engine.begin() as con:
            con.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
