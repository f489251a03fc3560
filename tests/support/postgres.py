"""Start a throw-away PostgreSQL cluster in a temp dir, as the ``postgres`` OS user, on a loopback port.

Durable settings (fsync=on, synchronous_commit=on) as in the reliability test rig.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.services import free_port


@dataclass
class PostgresCluster:
    datadir: str
    port: int
    bindir: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        self._psql(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _psql(self, sql: str) -> None:
        subprocess.run(
            [os.path.join(self.bindir, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
            check=True, capture_output=True, timeout=30,
        )


def find_bindir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for path in candidates:
        if os.path.exists(os.path.join(path, "initdb")):
            return path
    return None


def _as_postgres(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, timeout=60, **kwargs)  # type: ignore[call-overload]


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("no 'postgres' OS user to run the cluster as") from exc
    base = tempfile.mkdtemp(prefix="tvilling-pg-")
    os.chmod(base, 0o755)
    datadir = os.path.join(base, "data")
    sockdir = os.path.join(base, "sock")
    os.makedirs(sockdir)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sockdir, "postgres", "postgres")
    port = free_port()
    _as_postgres([os.path.join(bindir, "initdb"), "-D", datadir, "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C"])
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockdir} "
            "-c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=128MB")
    _as_postgres([os.path.join(bindir, "pg_ctl"), "-D", datadir, "-o", opts, "-l",
                  os.path.join(base, "log"), "-w", "-t", "60", "start"])
    cluster = PostgresCluster(datadir=datadir, port=port, bindir=bindir)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                cluster._psql("SELECT 1")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield cluster
    finally:
        try:
            _as_postgres([os.path.join(bindir, "pg_ctl"), "-D", datadir, "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(base, ignore_errors=True)
