"""A project-local PostgreSQL + PostGIS cluster that starts itself.

With no ``GEOGRID_DATABASE_URL`` geogrid runs its own server in a data folder of the
project (``initdb`` + ``pg_ctl``): the zero-configuration default for a planner's laptop,
the README's commands and the test suite.  PostgreSQL refuses to run as root, so when
we are root the server runs as the ``postgres`` system user (created by the Debian
package) and the data folder belongs to it.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geogrid.errors import DatabaseUnavailableError

DEFAULT_DBNAME = "geogrid"
# Where Debian's postgresql-NN packages put the server binaries.
_DEBIAN_BINDIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)

# Server settings for a local development/test cluster: loopback only, no JIT (it makes the
# short queries of a lookup service slower), asynchronous commit (a crash can lose the last
# few transactions but never corrupts the cluster).
_SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "synchronous_commit": "off",
    "jit": "off",
    "max_wal_size": "2GB",
    "log_min_messages": "warning",
}


def _find_bindir() -> Path:
    for candidate in _DEBIAN_BINDIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise DatabaseUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; run the README's setup command, "
        "which installs postgresql-15-postgis-3, or set GEOGRID_DATABASE_URL to an existing server"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on ``port``.  PostgreSQL sets SO_REUSEADDR, so a port
    whose old connections linger in TIME-WAIT (after a crash) is free to it: the check uses
    the same option, and a restarted cluster comes back where its clients expect it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ClusterStatus:
    running: bool
    data_dir: Path
    port: int | None
    url: str | None


class LocalCluster:
    """A PostgreSQL cluster living in ``home`` (``<home>/pgdata``).

    Parameters
    ----------
    home
        Folder for the cluster's data, log and port file, e.g. ``<repo>/.geogrid``.

    Example
    -------
    >>> cluster = LocalCluster(Path(".geogrid"))   # doctest: +SKIP
    >>> url = cluster.start()                      # doctest: +SKIP
    """

    def __init__(self, home: Path) -> None:
        self.home = Path(home).resolve()
        self.as_root = os.geteuid() == 0
        self.superuser = "postgres" if self.as_root else getpass.getuser()
        self.data_dir = self._choose_data_dir()
        self.log_file = self.data_dir.parent / "postgres.log"
        self.port_file = self.data_dir.parent / "port"

    # -- locations -------------------------------------------------------------------------
    def _choose_data_dir(self) -> Path:
        preferred = self.home / "pgdata"
        if not self.as_root or self._postgres_can_reach(self.home):
            return preferred
        # The checkout sits somewhere the postgres user cannot enter (e.g. under /root):
        # keep the cluster in a folder of its own under /var/tmp, one per checkout.
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"geogrid-{digest}" / "pgdata"

    def _postgres_can_reach(self, folder: Path) -> bool:
        folder.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(folder)],
            capture_output=True,
        )
        return probe.returncode == 0

    # -- running commands as the cluster owner -------------------------------------------
    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_root else args
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise DatabaseUnavailableError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                f"\nserver log: {self.log_file}"
            )
        return result

    def _prepare_dirs(self) -> None:
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(parent, "postgres", "postgres")
            os.chmod(parent, 0o755)

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        bindir = _find_bindir()
        return (
            self._run([str(bindir / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False).returncode
            == 0
        )

    def url(self, dbname: str = DEFAULT_DBNAME) -> str:
        port = self.port
        if port is None:
            raise DatabaseUnavailableError(f"no local cluster in {self.data_dir}; run `geogrid db start`")
        return f"postgresql+psycopg2://{self.superuser}@127.0.0.1:{port}/{dbname}"

    def status(self) -> ClusterStatus:
        running = self.is_running()
        return ClusterStatus(running, self.data_dir, self.port, self.url() if running else None)

    def start(self, *, dbname: str = DEFAULT_DBNAME, timeout_s: int = 60) -> str:
        """Initialise the cluster if needed, start it, create ``dbname`` with PostGIS; return its URL."""
        bindir = _find_bindir()
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        if not self.is_running():
            port = self.port if self.port and _port_is_free(self.port) else _free_port()
            self.port_file.write_text(str(port))
            options = " ".join(f"-c {k}={v}" for k, v in _SERVER_OPTIONS.items())
            self._run(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(timeout_s),
                    "-o",
                    f"-p {port} -k {self.data_dir} {options}",
                ]
            )
        self._wait_ready(timeout_s)
        self.ensure_database(dbname)
        return self.url(dbname)

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        if not self.is_running():
            return False
        bindir = _find_bindir()
        self._run([str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return True

    def _wait_ready(self, timeout_s: int) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", self.port or 0)) == 0:
                    return
            time.sleep(0.1)
        raise DatabaseUnavailableError(
            f"PostgreSQL did not accept connections within {timeout_s}s; see {self.log_file}"
        )

    def ensure_database(self, dbname: str) -> None:
        """Create ``dbname`` (UTF-8, with postgis and pg_trgm) unless it exists."""
        ensure_database(self.url("postgres"), dbname)


def ensure_database(admin_url: str, dbname: str, *, template: str | None = None) -> None:
    """Create database ``dbname`` on the server of ``admin_url`` with PostGIS and pg_trgm.

    ``template`` copies another database (schema and data), which is how the test suite makes
    a migrated throwaway database in a fraction of a second.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname}
            ).scalar()
            if not exists:
                tmpl = f' TEMPLATE "{template}"' if template else ""
                conn.execute(sa.text(f"CREATE DATABASE \"{dbname}\"{tmpl} ENCODING 'UTF8'"))
    finally:
        engine.dispose()
    db_engine = sa.create_engine(admin_url.rsplit("/", 1)[0] + f"/{dbname}", isolation_level="AUTOCOMMIT")
    try:
        with db_engine.connect() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot prepare database {dbname!r}: {exc.orig}") from exc
    finally:
        db_engine.dispose()


def drop_database(admin_url: str, dbname: str) -> None:
    """Drop ``dbname`` (terminating its connections); for throwaway test databases."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    finally:
        engine.dispose()
