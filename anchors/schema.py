"""The store's tables, written once for every SQL database.

The statements are SQL that SQLite and PostgreSQL both read, except for two
column types they spell differently, left as `{binary}` (SQLite BLOB,
PostgreSQL BYTEA) and `{double}` (SQLite REAL; PostgreSQL DOUBLE PRECISION,
because its REAL holds 24 bits, too few for a timestamp). A store fills them
in with `statements`. What only one database has stays with that store: for
SQLite, the triggers that count each space's revisions, the format number kept
in the file, and the upgrades of older files (`anchors.sqlite_schema`).

Format 4 is format 3's tables (`TABLES`) with spaces added: `SPACE_TABLES`,
and `ANCHOR_SPACE_COLUMNS` on the anchors table. Every statement may run again
on a store that has it already.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SCHEMA_VERSION = 4

TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE IF NOT EXISTS tokens (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        created_at {double} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS blocks (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL REFERENCES users(id),
        parent TEXT REFERENCES blocks(id) ON DELETE CASCADE,
        position {double} NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        created_at {double} NOT NULL,
        updated_at {double} NOT NULL,
        public INTEGER NOT NULL DEFAULT 0,
        body {binary} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS shares (
        block_id TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('read', 'write')),
        PRIMARY KEY (block_id, user_id)
    )""",
    """CREATE TABLE IF NOT EXISTS anchors (
        id TEXT PRIMARY KEY,
        block_id TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
        object_id TEXT NOT NULL,
        pose TEXT NOT NULL,
        owner TEXT NOT NULL REFERENCES users(id),
        created_at {double} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS owner_keys (
        user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        wrapped {binary} NOT NULL,
        created_at {double} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS key_check (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        sealed {binary} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS blocks_by_parent ON blocks(parent, position)",
    "CREATE INDEX IF NOT EXISTS blocks_by_seq ON blocks(seq)",
    "CREATE INDEX IF NOT EXISTS anchors_by_object ON anchors(object_id, owner)",
    "CREATE INDEX IF NOT EXISTS shares_by_user ON shares(user_id)",
)

SPACE_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS spaces (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        voxel_size {double} NOT NULL DEFAULT 0.05,
        point_count INTEGER NOT NULL DEFAULT 0,
        points {binary},
        landmarks TEXT NOT NULL DEFAULT '{{}}',
        map_version INTEGER NOT NULL DEFAULT 0,
        revision INTEGER NOT NULL DEFAULT 0,
        created_at {double} NOT NULL,
        updated_at {double} NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS space_shares (
        space_id TEXT NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('read', 'write')),
        PRIMARY KEY (space_id, user_id)
    )""",
    "CREATE INDEX IF NOT EXISTS spaces_by_owner ON spaces(owner)",
    "CREATE INDEX IF NOT EXISTS space_shares_by_user ON space_shares(user_id)",
)

ANCHOR_SPACE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("space_id", "TEXT REFERENCES spaces(id) ON DELETE CASCADE"),
    ("space_pose", "TEXT"),
)
"""Columns added to `anchors` in format 4: the space an anchor is placed in, and its pose there."""

SPACE_ANCHORS_INDEX = "CREATE INDEX IF NOT EXISTS anchors_by_space ON anchors(space_id)"

SHARE_TABLES: dict[str, tuple[str, str]] = {"block": ("shares", "block_id"), "space": ("space_shares", "space_id")}
"""The table of each subject's shares (`anchors.store.Subject`) and the column naming what is shared."""


@dataclass(frozen=True)
class ColumnTypes:
    """A database's names for the column types SQL databases spell differently."""

    binary: str
    double: str


def statements(sql: Iterable[str], types: ColumnTypes) -> list[str]:
    """`sql` with the database's own column types filled in."""
    return [s.format(binary=types.binary, double=types.double) for s in sql]


class StoreFormatError(RuntimeError):
    """The store was written by an incompatible version of this program."""
