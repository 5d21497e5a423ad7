"""A Dask distributed cluster of real processes: one ``dask scheduler`` and ``dask worker`` processes.

``geogrid dask start`` runs this on one machine; on several machines start ``dask scheduler`` on
one and ``dask worker tcp://<scheduler>:8786`` on the others the same way (docs/DEPLOYMENT.md).
The library is only ever given the scheduler's address (``scheduler="tcp://…"``,
``GEOGRID_DASK_SCHEDULER`` on the command line).

The processes run in a session of their own, their ids and the scheduler's address are kept
in a state folder (``<home>/dask`` for the command), and :meth:`DaskCluster.stop` ends exactly
those process groups.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from geogrid.errors import GeogridError

__all__ = ["DEFAULT_PORT", "DaskCluster", "DaskClusterError"]

#: The port ``dask scheduler`` listens on by default.
DEFAULT_PORT = 8786


class DaskClusterError(GeogridError):
    """The Dask scheduler or its workers could not be started, reached or stopped."""


@dataclass
class DaskCluster:
    """A scheduler and workers started as processes, with their state in ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> cluster = DaskCluster(Path(tempfile.mkdtemp()))
    >>> cluster.status() is None          # nothing started from this folder
    True
    """

    folder: Path

    @property
    def _state_file(self) -> Path:
        return self.folder / "cluster.json"

    def status(self) -> dict | None:
        """``{"address", "scheduler_pid", "worker_pid", "workers"}`` if the processes run, else None."""
        state = json.loads(self._state_file.read_text()) if self._state_file.exists() else None
        if state is None or not _is_dask(state["scheduler_pid"], "scheduler"):
            return None
        return state

    def start(
        self,
        *,
        workers: int = 2,
        threads: int = 1,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        memory_limit: str = "auto",
        timeout: float = 120.0,
    ) -> str:
        """Start the scheduler and ``workers`` worker processes; return the scheduler's address.

        Already running from this folder: the running cluster's address.  ``port=0`` picks a
        free port.  Waits until every worker has joined the scheduler.

        Examples
        --------
        >>> cluster = DaskCluster(Path(".geogrid/dask"))             # doctest: +SKIP
        >>> address = cluster.start(workers=2)                       # doctest: +SKIP
        >>> partition_province("prov", "run", scheduler=address)     # doctest: +SKIP
        >>> cluster.stop()                                           # doctest: +SKIP
        True
        """
        running = self.status()
        if running is not None:
            return running["address"]
        self.folder.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.folder / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        scheduler = self._spawn(
            "scheduler",
            ["--host", host, "--port", str(port), "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        )
        try:
            address = _wait_for_address(scheduler_file, scheduler, timeout)
            worker = self._spawn(
                "worker",
                [
                    address,
                    "--nworkers",
                    str(workers),
                    "--nthreads",
                    str(threads),
                    "--memory-limit",
                    memory_limit,
                    "--no-dashboard",
                    "--local-directory",
                    str(self.folder / "worker-space"),
                ],
            )
            state = {
                "address": address,
                "scheduler_pid": scheduler.pid,
                "worker_pid": worker.pid,
                "workers": workers,
            }
            self._state_file.write_text(json.dumps(state))
            _wait_for_workers(address, workers, timeout)
        except BaseException:
            self.stop()
            _end_group(scheduler.pid)
            raise
        return address

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Stop the workers, then the scheduler (their process groups); False if none was running."""
        if not self._state_file.exists():
            return False
        state = json.loads(self._state_file.read_text())
        # Workers first, so they leave the scheduler cleanly instead of reconnecting.
        stopped = [
            _end_group(state[f"{role}_pid"], timeout)
            for role in ("worker", "scheduler")
            if _is_dask(state[f"{role}_pid"], role)
        ]
        self._state_file.unlink(missing_ok=True)
        return any(stopped)

    def _spawn(self, role: str, args: list[str]) -> subprocess.Popen:
        log = (self.folder / f"{role}.log").open("ab")
        # A session of its own: stop() can end the process and the children it forks (nannies, workers).
        return subprocess.Popen(
            [sys.executable, "-m", "dask", role, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _is_dask(pid: int, role: str) -> bool:
    """Whether ``pid`` still runs ``dask <role>`` (a pid from an old state file may be reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dask" in cmdline and role.encode() in cmdline


def _wait_for_address(scheduler_file: Path, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DaskClusterError(
                f"dask scheduler exited with code {process.returncode}; see {scheduler_file.parent}/scheduler.log"
            )
        if scheduler_file.exists():
            try:
                return json.loads(scheduler_file.read_text())["address"]
            except (ValueError, KeyError):
                pass  # the scheduler is still writing the file
        time.sleep(0.1)
    raise DaskClusterError(f"dask scheduler did not start within {timeout:.0f} s")


def _wait_for_workers(address: str, workers: int, timeout: float) -> None:
    from distributed import Client

    try:
        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise DaskClusterError(f"{workers} dask worker(s) did not join {address}: {exc}") from None


def _end_group(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM the process group led by ``pid`` (one we started), SIGKILL it after ``timeout``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        _reap(pid)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status of a child of this process (others are not ours to wait for)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
