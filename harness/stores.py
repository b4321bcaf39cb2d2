"""The stores the store tests and benchmarks run against, and the anchors services wired over one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from anchors import AccountService, BlockService, Limits, ServiceKey, SpaceService, SQLiteStore, Store
from anchors.crypto import default_key_file
from anchors.storage.database import Database
from anchors.storage.locations import open_store
from harness.postgres import PostgresServer

@dataclass
class StoreBackend:
    """One kind of store the store tests run against, at a location of its own, with what the tests need to
    look behind the store: its database as SQL (`database`) and the bytes it keeps on disk (`disk_bytes`)."""

    kind: str
    """`sqlite` or `postgresql`."""
    location: str
    key_file: Path
    """Where the service key is kept: beside a SQLite file (its default); given for PostgreSQL."""
    postgres: PostgresServer | None = None
    since: float = field(default_factory=time.time)

    @classmethod
    def sqlite(cls, folder: Path) -> StoreBackend:
        path = folder / "store.db"
        return cls("sqlite", str(path), default_key_file(path))

    @classmethod
    def postgresql(cls, server: PostgresServer, url: str, folder: Path) -> StoreBackend:
        return cls("postgresql", url, folder / "store.key", server)

    def open(self, service_key: ServiceKey | None = None, key_file: Path | None = None) -> Store:
        """The store, opened as the service opens it (`anchors.storage.locations.open_store`)."""
        return open_store(self.location, service_key, key_file or self.key_file)

    def database(self) -> Database:
        """A connection of its own to the store's database (to look at or alter what is stored)."""
        if self.kind == "sqlite":
            from anchors.storage.sqlite import SQLiteDatabase

            return SQLiteDatabase(self.location)
        from anchors.storage.postgres import PostgresDatabase

        return PostgresDatabase(self.location, pool_size=1)

    def disk_bytes(self) -> bytes:
        """What the database keeps on disk: the SQLite file and its WAL; PostgreSQL's files of this database
        and the write-ahead log written since the backend was made, after a checkpoint."""
        if self.kind == "sqlite":
            path = Path(self.location)
            return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        assert self.postgres is not None
        name = self.location.rsplit("/", 1)[1]
        with self.postgres.admin() as conn:
            conn.execute("CHECKPOINT")
            oid = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]
        files = [*(self.postgres.data / "base" / str(oid)).iterdir(),
                 *(p for p in (self.postgres.data / "pg_wal").iterdir()
                   if p.is_file() and p.stat().st_mtime >= self.since - 1)]
        return b"".join(p.read_bytes() for p in files if p.is_file())



@dataclass(frozen=True)
class AnchorServices:
    """The anchors services over one store, wired as `spatial.services.Services.build` wires them."""

    store: Store
    accounts: AccountService
    blocks: BlockService
    spaces: SpaceService

    @classmethod
    def on(cls, store: Store, limits: Limits = Limits()) -> AnchorServices:
        blocks = BlockService(store, limits=limits)
        return cls(store, AccountService(store), blocks, SpaceService(blocks))

    @classmethod
    def in_memory(cls, limits: Limits = Limits()) -> AnchorServices:
        return cls.on(SQLiteStore(":memory:"), limits)
