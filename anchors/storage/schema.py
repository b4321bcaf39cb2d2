"""The store's tables, written once for every SQL database.

The statements are SQL that SQLite and PostgreSQL both read, except for two
column types they spell differently, left as `{binary}` (SQLite BLOB,
PostgreSQL BYTEA) and `{double}` (SQLite REAL; PostgreSQL DOUBLE PRECISION,
because its REAL holds 24 bits, too few for a timestamp). A store fills them
in with `statements`. What only one database has stays with that store: for
SQLite, the triggers that count each space's revisions, the format number kept
in the file, and the upgrades of older files (`anchors.storage.sqlite_schema`).

Format 4 is format 3's tables (`TABLES`) with spaces added: `SPACE_TABLES`,
and `ANCHOR_SPACE_COLUMNS` on the anchors table. Every statement may run again
on a store that has it already.

The change log (`CHANGE_TABLES`) is an addition that needs no new format: a
store adds it when it opens a file without it, and a program that does not know
it reads such a file as before (the database fills it in on every write, below).
Each write to `blocks`, `shares` or `anchors` adds a row per row it touched
(`CHANGE_SOURCES`), stamped with the next `seq`; `blocks.seq` is the stamp of a
block's last write. `Store.changes_since` reads it back with `CHANGES_SINCE`,
one query on the primary key. The rows are written by the database itself
(SQLite: triggers, `anchors.storage.sqlite_schema`), so that nothing escapes them, rows
deleted by a cascade included. A second store must hand out stamps in the
order its writes commit: a write that commits later never gets a smaller
`seq` (`NEXT_SEQ` is the largest stamp plus one, and `seq` is the primary key,
so two writers that read the same largest stamp cannot both commit it; on
PostgreSQL, take a transaction lock before stamping, and it is enough).
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

CHANGE_TABLES: tuple[str, ...] = (
    # seq: the stamp, in commit order; subject: block, share or anchor; subject_id: its id;
    # under: a block's parent, an anchor's object id (or place in a space), nothing for a share.
    """CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        under TEXT
    )""",
)

NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)"
"""The stamp the next write gets."""

CHANGES_SINCE = "SELECT seq, subject, subject_id, under FROM changes WHERE seq >= ? ORDER BY seq"
"""The change log from a stamp on, that stamp's own row first (it tells that nothing before was pruned)."""

CHANGES_KEPT = 100_000
"""Rows of the change log kept; a reader whose stamp is older is told that anything may have changed."""


@dataclass(frozen=True)
class ChangeSource:
    """A table whose every insert, update and delete is logged: as `subject`, by the column `id_column`,
    and what it is under by `under_column` (None: nothing)."""

    table: str
    subject: str
    id_column: str
    under_column: str | None


CHANGE_SOURCES: tuple[ChangeSource, ...] = (
    ChangeSource("blocks", "block", "id", "parent"),
    ChangeSource("shares", "share", "block_id", None),
    ChangeSource("anchors", "anchor", "id", "object_id"),
)
"""What the change log follows. A block moved to another parent is logged under both parents."""

ANCHOR_SPACE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("space_id", "TEXT REFERENCES spaces(id) ON DELETE CASCADE"),
    ("space_pose", "TEXT"),
)
"""Columns added to `anchors` in format 4: the space an anchor is placed in, and its pose there."""

SPACE_ANCHORS_INDEX = "CREATE INDEX IF NOT EXISTS anchors_by_space ON anchors(space_id)"

SHARE_TABLES: dict[str, tuple[str, str]] = {"block": ("shares", "block_id"), "space": ("space_shares", "space_id")}
"""The table of each subject's shares (`anchors.storage.interface.Subject`) and the column naming what is shared."""


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
