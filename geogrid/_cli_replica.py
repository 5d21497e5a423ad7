"""``geogrid db replica …``: streaming-replication standbys of the project-local cluster."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from geogrid.errors import GeogridError

replica_app = typer.Typer(
    help="Read replicas: hot standbys of the project-local cluster, each on its own port."
)
console = Console(soft_wrap=True)
Name = Annotated[str, typer.Option("--name", help="replica name (its folder and replication slot)")]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _primary():
    from geogrid.db import ENV_URL, default_home
    from geogrid.db.cluster import LocalCluster

    if os.environ.get(ENV_URL):
        _fail(f"{ENV_URL} is set: replicas of that server are made by its administrator (docs/DEPLOYMENT.md)")
    return LocalCluster(default_home())


def _replicas(name: str | None):
    from geogrid.db.replica import ReplicaCluster, replica_names

    primary = _primary()
    names = [name] if name else replica_names(primary.home)
    try:
        return [ReplicaCluster(primary, n) for n in names]
    except GeogridError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@replica_app.command("start")
def replica_start(name: Name = "r1") -> None:
    """Make a replica from the running primary (the first time) and start it; print its URL."""
    (replica,) = _replicas(name)
    try:
        url = replica.start()
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"replica {name} ready: {url}")
    console.print("serve reads from it with GEOGRID_REPLICA_URLS (comma-separated URLs of all replicas)")


@replica_app.command("stop")
def replica_stop(
    name: Annotated[str | None, typer.Option("--name", help="one replica (default: all)")] = None,
) -> None:
    """Stop the replicas (or one); their data stays and they catch up when started again."""
    for replica in _replicas(name):
        console.print(f"replica {replica.name}: {'stopped' if replica.stop() else 'was not running'}")


@replica_app.command("status")
def replica_status() -> None:
    """Each replica: running, URL, in recovery, replayed WAL position and lag behind the primary."""
    replicas = _replicas(None)
    if not replicas:
        console.print("no replicas; make one with `geogrid db replica start`")
        raise typer.Exit(1)
    running = 0
    for replica in replicas:
        try:
            status = replica.replica_status()
        except GeogridError as exc:
            _fail(str(exc))
        running += status.running
        lag = "-" if status.lag_bytes is None else f"{status.lag_bytes} bytes"
        console.print(
            f"replica {status.name}: running: {status.running}  url: {status.url or '-'}  "
            f"in recovery: {status.in_recovery}  replayed: {status.replay_lsn or '-'}  behind primary: {lag}"
        )
    if not running:
        raise typer.Exit(1)


@replica_app.command("remove")
def replica_remove(name: Name) -> None:
    """Stop a replica, delete its data and drop its replication slot on the primary."""
    (replica,) = _replicas(name)
    try:
        replica.remove()
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"replica {name} removed")


def register(app: typer.Typer) -> None:
    """Add ``replica`` under ``geogrid db``."""
    from geogrid.cli import db_app

    db_app.add_typer(replica_app, name="replica")
