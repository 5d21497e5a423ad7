"""Streaming-replication standbys of the project-local cluster (read replicas).

A replica is a hot standby made by ``pg_basebackup -R`` from the running primary
(:class:`geogrid.db.cluster.LocalCluster`): its own data folder and port under the project's
database home (``<home>/replicas/<name>``), streaming the primary's WAL through a physical
replication slot of its own, so the primary keeps the WAL a stopped replica still needs.
The primary gets a replication role and a ``pg_hba.conf`` line for it the first time a
replica is made.  Replicas answer reads (``SELECT``) while the primary is down; they catch up
when it comes back.

Examples
--------
>>> replica_names(Path("/nonexistent"))
[]
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from geogrid.db.cluster import _SERVER_OPTIONS, LocalCluster, _find_bindir, _free_port, _port_is_free
from geogrid.errors import DatabaseUnavailableError, GeogridError

REPLICATION_ROLE = "geogrid_replicator"
REPLICAS_DIR = "replicas"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
MAX_SLOT_WAL = "4GB"
_HBA_LINE = f"host replication {REPLICATION_ROLE} 127.0.0.1/32 trust"
# A standby sends the primary the oldest snapshot it still reads (no query is cancelled because
# vacuum on the primary removed rows it needs) and waits at most this long before applying WAL
# that conflicts with a running query.
_STANDBY_OPTIONS = {"hot_standby": "on", "hot_standby_feedback": "on", "max_standby_streaming_delay": "30s"}


def replica_names(home: Path) -> list[str]:
    """Names of the replicas made in ``home`` (folders under ``<home>/replicas``), sorted."""
    folder = Path(home) / REPLICAS_DIR
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _admin(url: str, sql: str, params: dict | None = None) -> list[tuple]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    except sa.exc.OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot reach {engine.url.render_as_string()}: {exc.orig}") from None
    finally:
        engine.dispose()


def prepare_primary(primary: LocalCluster, slot: str) -> None:
    """Give the running ``primary`` what a standby needs: the replication role, its
    ``pg_hba.conf`` line (loopback only, like every connection to the local cluster), a bound on
    the WAL a slot may keep (``max_slot_wal_keep_size``) and the physical replication slot
    ``slot``.  Each step is skipped when already done.

    Examples
    --------
    >>> prepare_primary(LocalCluster(Path(".geogrid")), "geogrid_r1")   # doctest: +SKIP
    """
    admin = primary.url("postgres")
    if not _admin(admin, "SELECT 1 FROM pg_roles WHERE rolname = :r", {"r": REPLICATION_ROLE}):
        _admin(admin, f"CREATE ROLE {REPLICATION_ROLE} WITH LOGIN REPLICATION")
    hba = primary.data_dir / "pg_hba.conf"
    lines = hba.read_text(encoding="utf-8").splitlines()
    if _HBA_LINE not in lines:
        # First match wins in pg_hba.conf: the role's line goes before the catch-all ones.
        hba.write_text("\n".join([_HBA_LINE, *lines]) + "\n", encoding="utf-8")
        _admin(admin, "SELECT pg_reload_conf()")
    # A slot keeps WAL until its replica takes it: bound what a replica gone for good can hold.
    if _admin(admin, "SHOW max_slot_wal_keep_size")[0][0] == "-1":
        _admin(admin, f"ALTER SYSTEM SET max_slot_wal_keep_size = '{MAX_SLOT_WAL}'")
        _admin(admin, "SELECT pg_reload_conf()")
    _admin(
        admin,
        "SELECT pg_create_physical_replication_slot(:s) "
        "WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = :s)",
        {"s": slot},
    )


@dataclass(frozen=True)
class ReplicaStatus:
    """What ``geogrid db replica status`` shows of one replica."""

    name: str
    running: bool
    port: int | None
    url: str | None
    in_recovery: bool | None = None
    replay_lsn: str | None = None
    lag_bytes: int | None = None


class ReplicaCluster(LocalCluster):
    """A hot standby of ``primary`` named ``name``, living in ``<primary home>/replicas/<name>``.

    Parameters
    ----------
    primary
        The project's cluster; it must run when the replica is made or started.
    name
        Lower-case letters, digits and ``_`` (it names the folder and the replication slot).

    Examples
    --------
    >>> replica = ReplicaCluster(LocalCluster(Path(".geogrid")), "r1")   # doctest: +SKIP
    >>> url = replica.start()                                            # doctest: +SKIP
    """

    def __init__(self, primary: LocalCluster, name: str = "r1") -> None:
        if not _NAME.match(name):
            raise GeogridError(f"replica name {name!r}: use lower-case letters, digits and _ (at most 31)")
        self.primary = primary
        self.name = name
        super().__init__(primary.home / REPLICAS_DIR / name)

    @property
    def made(self) -> bool:
        """Whether the replica's data exists (it was made by :meth:`start`)."""
        return (self.data_dir / "PG_VERSION").exists()

    def _forget(self) -> None:
        for folder in {self.data_dir.parent, self.home}:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def slot(self) -> str:
        return f"geogrid_{self.name}"

    def _conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.primary.port} user={REPLICATION_ROLE} application_name={self.name}"

    def _base_backup(self, timeout_s: int) -> None:
        bindir = _find_bindir()
        self._run(
            [
                str(bindir / "pg_basebackup"),
                "-d",
                self._conninfo(),
                "-D",
                str(self.data_dir),
                "-R",
                "-X",
                "stream",
                "-S",
                self.slot,
                "-c",
                "fast",
            ]
        )

    def start(self, *, dbname: str = "geogrid", timeout_s: int = 60) -> str:
        """Make the replica from the running primary the first time, start it; return its URL.

        A replica made before starts without the primary too (it serves what it has replayed and
        follows the primary once that runs again).
        """
        made = self.made
        if not self.primary.is_running():
            if not made:
                self._forget()
                raise DatabaseUnavailableError(
                    "the primary is not running; start it first (`geogrid db start`): a replica is made from it"
                )
        else:
            prepare_primary(self.primary, self.slot)
        self._prepare_dirs()
        if not made:
            self._base_backup(timeout_s)
        if not self.is_running():
            self._start_standby(timeout_s)
        self._wait_ready(timeout_s)
        return self.url(dbname)

    def _start_standby(self, timeout_s: int) -> None:
        port = self.port if self.port and _port_is_free(self.port) else _free_port()
        self.port_file.write_text(str(port))
        # The primary's port may have changed since the base backup: say where it is now.
        options = {**_SERVER_OPTIONS, **_STANDBY_OPTIONS, "primary_slot_name": self.slot}
        settings = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._run(
            [
                str(_find_bindir() / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(timeout_s),
                "-o",
                f'-p {port} -k {self.data_dir} {settings} -c "primary_conninfo={self._conninfo()}"',
            ]
        )

    def remove(self) -> None:
        """Stop the replica, delete its data and drop its slot on the primary (which then keeps
        no WAL for it).  The slot stays when the primary is down; removing again drops it."""
        self.stop()
        self._forget()
        if self.primary.is_running():
            _admin(
                self.primary.url("postgres"),
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = :s AND NOT active",
                {"s": self.slot},
            )

    def replica_status(self) -> ReplicaStatus:
        """Running, URL, whether it is in recovery, the WAL position it replayed and how far
        (bytes) it is behind the primary (``None`` for what cannot be asked right now)."""
        if not self.is_running():
            return ReplicaStatus(self.name, False, self.port, None)
        url = self.url()
        (in_recovery, replay), *_ = _admin(url, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
        lag = None
        if self.primary.is_running() and replay is not None:
            lag = _admin(
                self.primary.url("postgres"),
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:r AS pg_lsn))::bigint",
                {"r": replay},
            )[0][0]
        return ReplicaStatus(self.name, True, self.port, url, in_recovery, replay, lag)


def wait_for_replay(primary_url: str, replica_urls: list[str], *, timeout_s: float = 30.0) -> None:
    """Return once every replica has replayed the primary's WAL up to now.

    Raises
    ------
    DatabaseUnavailableError
        A replica is still behind after ``timeout_s`` seconds.

    Examples
    --------
    >>> wait_for_replay(primary_url, [replica_url])   # doctest: +SKIP
    """
    target = _admin(primary_url, "SELECT pg_current_wal_lsn()::text")[0][0]
    deadline = time.monotonic() + timeout_s
    for url in replica_urls:
        while True:
            done = _admin(url, "SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)", {"t": target})[0][0]
            if done:
                break
            if time.monotonic() > deadline:
                raise DatabaseUnavailableError(
                    f"replica {url} has not replayed up to {target} in {timeout_s}s"
                )
            time.sleep(0.05)
