"""Leader election between replicas with PostgreSQL session-level advisory locks.

Several ``plinth up`` processes may share one PostgreSQL store. They all serve the
API; exactly one of them, the leader, runs the background work (reconcile,
metering, compliance scans, secret rotation, ...). The leader holds a
session-level advisory lock on a dedicated connection: when its process dies the
server ends the session and frees the lock, and another replica takes it within
about one check interval. A replica that cannot confirm the lock (lost
connection, lock gone) is deposed and stops its background work at once.

Work asked of a follower reaches the leader at once: the follower sends a
PostgreSQL NOTIFY on ``plinth_work`` with the keys, the leader LISTENs on its
leadership connection (and its periodic sweep would find the work anyway).

On SQLite there is one process per store, so it is always the leader.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

__all__ = [
    "LEADER_KEY",
    "MIGRATE_KEY",
    "STARTUP_KEY",
    "BackgroundService",
    "LeaderState",
    "Leadership",
    "advisory_lock",
    "replica_name",
]

log = logging.getLogger(__name__)

# Advisory lock keys (signed 64-bit): "Plinth" in ASCII, then a number per purpose.
LEADER_KEY = 0x506C_696E_7468_0001
STARTUP_KEY = 0x506C_696E_7468_0002
MIGRATE_KEY = 0x506C_696E_7468_0003
WAKE_CHANNEL = "plinth_work"
_PAYLOAD_BYTES = 7000  # NOTIFY payloads must stay under 8000 bytes

# libpq settings for the leadership connection: notice a dead server or network within
# seconds, and let the server notice a dead replica too (its keepalives are per session).
_FAST_FAILURE: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "options": (
        "-c statement_timeout=5000 -c tcp_keepalives_idle=5 "
        "-c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
    ),
}

_HOLDS = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = :key"
)


class BackgroundService(Protocol):
    """Background work that runs on the leader only; both methods may be called again."""

    def start(self) -> None:
        """Start the work (returns quickly; the work runs on its own threads)."""

    def stop(self) -> None:
        """Stop the work and wait for the step in progress."""


@dataclass(frozen=True)
class LeaderState:
    """What one replica knows about its leadership."""

    replica_id: str
    is_leader: bool
    since: datetime | None
    backend: str

    def as_dict(self) -> dict[str, Any]:
        """Return the state as JSON-ready data."""
        return {
            "replica_id": self.replica_id,
            "is_leader": self.is_leader,
            "since": self.since.isoformat() if self.since else None,
            "election": "postgresql-advisory-lock" if self.backend == "postgresql" else "single",
        }


def replica_name() -> str:
    """Return a name for this process: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


@contextmanager
def advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock for the block (waits for it); no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


class Leadership:
    """Campaign for leadership in the background and report changes through callbacks."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        on_wake: Callable[[list[str]], None] | None = None,
        replica_id: str | None = None,
        interval: float = 1.0,
        key: int = LEADER_KEY,
    ) -> None:
        self.replica_id = replica_id or replica_name()
        self.interval, self.key = interval, key
        self._on_elected, self._on_deposed, self._on_wake = on_elected, on_deposed, on_wake
        self._main = engine
        self._backend = engine.dialect.name
        self._engine = (
            create_engine(engine.url, poolclass=NullPool, connect_args=_FAST_FAILURE)
            if self._backend == "postgresql"
            else None
        )
        self._conn: Connection | None = None
        self._since: datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        """True while this replica leads."""
        return self._since is not None

    def state(self) -> LeaderState:
        """Return this replica's view of the election."""
        return LeaderState(self.replica_id, self.is_leader, self._since, self._backend)

    def start(self) -> None:
        """Start campaigning (on SQLite: become the leader now)."""
        if self._engine is None:
            self._elect()
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="plinth-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop campaigning: stop the background work and give the lock up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60.0)
            self._thread = None
        with self._lock:
            self._depose()
            self._close()
        if self._engine is not None:
            self._engine.dispose()

    def wake(self, keys: list[str]) -> None:
        """Tell the leader about new work (from a follower; the leader's sweep is the fallback)."""
        if self._engine is None or self.is_leader or not keys:
            return
        batches: list[list[str]] = [[]]
        for key in keys:
            if sum(len(k) + 1 for k in batches[-1]) + len(key) > _PAYLOAD_BYTES:
                batches.append([])
            batches[-1].append(key)
        try:
            with self._main.begin() as conn:
                for batch in batches:
                    conn.execute(
                        text("SELECT pg_notify(:channel, :keys)"),
                        {"channel": WAKE_CHANNEL, "keys": ",".join(batch)},
                    )
        except Exception as exc:  # the sweep picks the work up anyway
            log.warning("could not wake the leader: %s", exc)

    def listen(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds for keys sent by followers; pass them to on_wake."""
        conn = self._conn
        if conn is None or not self.is_leader:
            self._stop.wait(timeout)
            return []
        keys: list[str] = []
        try:
            driver = conn.connection.driver_connection
            assert driver is not None
            for note in driver.notifies(timeout=timeout, stop_after=1):
                keys.extend(k for k in note.payload.split(",") if k)
        except Exception as exc:  # the next check finds out whether the lock is still held
            log.warning("listening for work failed: %s", exc)
            self._stop.wait(timeout)
            return []
        if keys and self._on_wake is not None:
            self._on_wake(keys)
        return keys

    def check(self) -> bool:
        """Try for, or confirm, the lock once; run the callbacks on a change; True if leading."""
        with self._lock:
            holds = self._holds()
            if holds and not self.is_leader:
                self._elect()
            elif not holds and self.is_leader:
                log.warning("replica %s lost the leadership", self.replica_id)
                self._depose()
            return self.is_leader

    # -- internals ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # a callback failed: try again on the next round
                log.exception("leader election round failed")
            deadline = time.monotonic() + self.interval
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                self.listen(min(left, 0.25))

    def _holds(self) -> bool:
        """True when this replica's session holds the lock (acquiring it if free)."""
        assert self._engine is not None
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            if self.is_leader:
                held = self._conn.execute(_HOLDS, {"key": self.key}).scalar_one() == 1
            else:
                query = text("SELECT pg_try_advisory_lock(:key)")
                held = bool(self._conn.execute(query, {"key": self.key}).scalar_one())
                if held:
                    self._conn.execute(text(f"LISTEN {WAKE_CHANNEL}"))
            self._conn.commit()
            return bool(held)
        except Exception as exc:  # the connection is gone, and the lock with it
            log.warning("leadership connection failed: %s", exc)
            self._close()
            return False

    def _elect(self) -> None:
        self._since = datetime.now(UTC)
        log.info("replica %s is now the leader", self.replica_id)
        try:
            self._on_elected()
        except Exception:
            # Half-started work must not run without the lock's protection: undo and retry.
            self._depose()
            self._close()
            raise

    def _depose(self) -> None:
        if self._since is None:
            return
        self._since = None
        self._on_deposed()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the leadership connection failed", exc_info=True)
            self._conn = None
