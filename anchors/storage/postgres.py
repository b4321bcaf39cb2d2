"""PostgreSQL store: the SQL store (`anchors.storage.sql_store`) on a psycopg connection pool, for several
service replicas on one database.

It means what the SQLite store means, statement for statement:

- Write transactions run one at a time, as SQLite's do: each takes one
  transaction-level advisory lock first (`WRITE_LOCK`). So `seq` stamps grow
  in commit order, sibling positions and per-owner limits are computed
  without races, and replicas starting at once create the tables once.
- Every write transaction sends what it changed (`anchors.storage.change_events`) with
  `pg_notify` on `CHANNEL`; PostgreSQL delivers it when the transaction
  commits. `watch` starts a listener (one connection of its own) that hands
  every replica's changes, its own included, to the watchers; when it loses
  the database it reconnects and says that changes may have been missed.
- Titles, content and maps reach the database sealed, under the same
  per-owner keys as SQLite's. The service key is never stored: give it as a
  key file (made with a new database) or as the key itself.

The tables and the format are in `anchors.storage.postgres_schema`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from anchors.storage import postgres_schema
from anchors.storage.change_events import CHANNEL, Change, Watcher, from_payload, lost_changes, payloads
from anchors.crypto import ServiceKey, ServiceKeyError
from anchors.storage.database import (
    Cursor,
    Database,
    Params,
    Row,
    StoreConnectionError,
    T,
    Transaction,
    shown,
    tell_watchers,
)
from anchors.storage.sql_keys import key_from_file, require_key_opens
from anchors.storage.sql_store import SQLStore

log = logging.getLogger("anchors.storage.postgres")

WRITE_LOCK = 0x5350_4154
"""The advisory lock every write transaction holds until it commits."""
POOL_SIZE = 16
"""Connections one process keeps at most (frames, REST requests and the CLI share them); the listener has one more."""
CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=1024)
def _translate(sql: str) -> str:
    """SQL with `?` and `:name` placeholders (as SQLite reads them) in psycopg's `%s` and `%(name)s`."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


class _PostgresTransaction(Transaction):
    def __init__(self, conn: psycopg.Connection, origin: str) -> None:
        super().__init__(origin)
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._conn.execute(_translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.cursor().executemany(_translate(sql), list(rows))


class _Listener:
    """A thread that LISTENs on `CHANNEL` on a connection of its own and hands every change to `deliver`."""

    def __init__(self, url: str, deliver: Callable[[list[Change]], None]) -> None:
        self._url = url
        self._deliver = deliver
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-changes", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._listening.wait(CONNECT_TIMEOUT_S):
            log.warning("the store's change listener is not connected yet; changes go unseen until it is")

    def _run(self) -> None:
        missed = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if missed:
                        log.info("the store's change listener is back")
                        self._deliver([lost_changes()])
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._deliver(from_payload(note.payload))
            except psycopg.Error as exc:
                if not missed:
                    log.warning("the store's change listener lost the database (%s); reconnecting", exc)
                missed = True
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class PostgresDatabase(Database):
    """A pool of autocommit connections; transactions are explicit (`transaction`, `snapshot`)."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self._url = url
        self._watchers: list[Watcher] = []
        self._listener: _Listener | None = None
        try:
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.Error as exc:
            raise StoreConnectionError(f"cannot open the PostgreSQL store {shown(url)}: {exc}".strip()) from None
        # Each connection is checked as it leaves the pool: after a database restart a stale one is
        # replaced there instead of failing the request that got it.
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, name="spatial-store",
            kwargs={"autocommit": True, "row_factory": dict_row}, check=ConnectionPool.check_connection,
        )
        self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._pool.connection() as conn:
            return conn.execute(_translate(sql), params).fetchall()

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            tx = _PostgresTransaction(conn, self.origin)
            result = work(tx)
            for payload in payloads(tx.changes):
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        return result

    def snapshot(self, work: Callable[[Transaction], T]) -> T:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return work(_PostgresTransaction(conn, self.origin))

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)
        if self._listener is None:
            self._listener = _Listener(self._url, lambda changes: tell_watchers(list(self._watchers), changes))
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self._pool.close()


class PostgresStore(SQLStore):
    """A store in one PostgreSQL database, named by a `postgresql://user@host:port/db` URL (a password is best
    left out of it: libpq reads PGPASSWORD and ~/.pgpass).

    `service_key` opens the store's data keys; without one it is read from
    `key_file`, which a new database creates (mode 0600; `created_key_file`).
    Every replica is given the same key.
    """

    def __init__(self, url: str, service_key: ServiceKey | None = None, key_file: str | Path | None = None,
                 pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.created_key_file: Path | None = None
        if service_key is None and key_file is None:
            raise ServiceKeyError(
                f"the PostgreSQL store {shown(url)} keeps no key beside it: give the service key with"
                " --service-key-file PATH (a new database makes it there) or SPATIAL_SERVICE_KEY"
            )
        db = PostgresDatabase(url, pool_size)
        try:
            key = db.transaction(lambda tx: self._open(tx, service_key, Path(key_file) if key_file else None))
            super().__init__(db, key, shown(url))
        except BaseException:
            db.close()
            raise

    def _open(self, tx: Transaction, service_key: ServiceKey | None, key_file: Path | None) -> ServiceKey:
        """Create the tables of a new database, or check an existing one's format and key (under the write
        lock: replicas starting at once open the database one after the other); the service key."""
        location = shown(self.url)
        fresh = postgres_schema.stored_format(tx, location) == 0
        if service_key is not None:
            key = service_key
        else:
            assert key_file is not None
            key, self.created_key_file = key_from_file(key_file, fresh, location)
        if fresh:
            postgres_schema.create(tx, key.key_check())
        else:
            check = tx.execute("SELECT sealed FROM key_check WHERE id = 1").fetchone()
            require_key_opens(key, check["sealed"] if check else None, location)
            postgres_schema.add_change_log(tx)
        return key
