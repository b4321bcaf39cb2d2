"""The SQLite store's schema: the shared tables (`anchors.storage.schema`) in SQLite's types, the triggers
that count each space's revisions and that write the change log, the signatures table, and the
upgrades of older files in place.

The format is kept in the file's `user_version`. Format 1 had no block tree;
its files are refused rather than guessed at. Format 2 stored titles and
content in plain text; it is sealed in place when opened (`seal_format_2`).
Format 3 had no spaces; they are added when it is opened (`add_spaces`).
A file without the change log gains it when opened (`add_change_log`).
"""

from __future__ import annotations

from collections.abc import Callable

from anchors.storage import schema
from anchors.storage.database import Database, Transaction
from anchors.storage.schema import SCHEMA_VERSION, StoreFormatError

TYPES = schema.ColumnTypes(binary="BLOB", double="REAL")
TABLES = schema.statements(schema.TABLES, TYPES)
"""Format 3's tables."""
SPACE_TABLES = schema.statements(schema.SPACE_TABLES, TYPES)
CHANGE_TABLES = schema.statements(schema.CHANGE_TABLES, TYPES)

SPACE_REVISION_TRIGGERS: tuple[str, ...] = (
    # Any change to a space's anchors, however made (a block deleted with its anchors too), bumps its revision.
    """CREATE TRIGGER IF NOT EXISTS space_anchor_added AFTER INSERT ON anchors WHEN NEW.space_id IS NOT NULL
       BEGIN UPDATE spaces SET revision = revision + 1 WHERE id = NEW.space_id; END""",
    """CREATE TRIGGER IF NOT EXISTS space_anchor_moved AFTER UPDATE OF space_pose ON anchors
       WHEN NEW.space_id IS NOT NULL
       BEGIN UPDATE spaces SET revision = revision + 1 WHERE id = NEW.space_id; END""",
    """CREATE TRIGGER IF NOT EXISTS space_anchor_removed AFTER DELETE ON anchors WHEN OLD.space_id IS NOT NULL
       BEGIN UPDATE spaces SET revision = revision + 1 WHERE id = OLD.space_id; END""",
)


def _log(source: schema.ChangeSource, row: str, under: str | None) -> str:
    """The statement that logs `row` (NEW or OLD) of `source`, stamped with the next seq."""
    under_value = f"{row}.{under}" if under else "NULL"
    return (f"INSERT INTO changes (seq, subject, subject_id, under) VALUES ({schema.NEXT_SEQ},"
            f" '{source.subject}', {row}.{source.id_column}, {under_value});")


def change_log_triggers() -> list[str]:
    """Triggers that log every insert, update and delete of the tables `anchors.storage.schema.CHANGE_SOURCES` names
    (a row deleted by a cascade too), and one that prunes the log to about `CHANGES_KEPT` rows."""
    triggers = []
    for source in schema.CHANGE_SOURCES:
        under = source.under_column
        name = f"{source.table}_changed"
        triggers += [
            f"CREATE TRIGGER IF NOT EXISTS {name}_insert AFTER INSERT ON {source.table}"
            f" BEGIN {_log(source, 'NEW', under)} END",
            f"CREATE TRIGGER IF NOT EXISTS {name}_update AFTER UPDATE ON {source.table}"
            f" BEGIN {_log(source, 'NEW', under)} END",
            f"CREATE TRIGGER IF NOT EXISTS {name}_delete AFTER DELETE ON {source.table}"
            f" BEGIN {_log(source, 'OLD', under)} END",
        ]
        if under:  # moved: logged under where it was as well
            triggers.append(
                f"CREATE TRIGGER IF NOT EXISTS {name}_moved AFTER UPDATE OF {under} ON {source.table}"
                f" WHEN OLD.{under} IS NOT NEW.{under} BEGIN {_log(source, 'OLD', under)} END"
            )
    triggers.append(
        "CREATE TRIGGER IF NOT EXISTS changes_pruned AFTER INSERT ON changes WHEN NEW.seq % 1000 = 0"
        f" BEGIN DELETE FROM changes WHERE seq <= NEW.seq - {schema.CHANGES_KEPT}; END"
    )
    return triggers


def add_change_log(db: Transaction) -> None:
    """The change log and its triggers, where the file has them not yet; it starts at the blocks' latest
    stamp, so stamps never go back. Runs on every open (each statement may run again)."""
    for statement in CHANGE_TABLES:
        db.execute(statement)
    db.execute(
        "INSERT INTO changes (seq, subject, subject_id, under)"
        " SELECT (SELECT COALESCE(MAX(seq), 0) FROM blocks), 'store', 'opened', NULL"
        " WHERE NOT EXISTS (SELECT 1 FROM changes)"
    )
    for statement in change_log_triggers():
        db.execute(statement)


SIGNATURES = """CREATE TABLE IF NOT EXISTS signatures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    label TEXT NOT NULL,
    taught INTEGER NOT NULL,
    owner TEXT,
    data BLOB NOT NULL,
    created_at REAL NOT NULL
)"""
"""Appearance signatures (`anchors.storage.signatures`); kept in the file since before formats counted them."""
SIGNATURES_INDEX = "CREATE INDEX IF NOT EXISTS signatures_by_instance ON signatures(instance_id)"


def stored_format(db: Database, path: str) -> int:
    """The file's format, 0 for a new file; a format this version cannot read is refused."""
    version = db.query_one("PRAGMA user_version")["user_version"]
    tables = {r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version not in (0, 2, 3, SCHEMA_VERSION) or (version == 0 and "blocks" in tables):
        raise StoreFormatError(
            f"{path} holds store format {version or 1}; this version reads format {SCHEMA_VERSION}."
            " Start with a new store file."
        )
    return version


def create(db: Transaction, key_check: bytes) -> None:
    """A new store's tables at the current format; `key_check` tells later opens the service key is right."""
    for statement in TABLES:
        db.execute(statement)
    db.execute("INSERT INTO key_check (id, sealed) VALUES (1, ?)", (key_check,))
    add_spaces(db)


def add_spaces(db: Transaction) -> None:
    """Spaces, their shares, and the anchor columns that place anchors in them (format 3 to 4)."""
    for statement in SPACE_TABLES:
        db.execute(statement)
    present = {r["name"] for r in db.execute("PRAGMA table_info(anchors)").fetchall()}
    for column, declaration in schema.ANCHOR_SPACE_COLUMNS:
        if column not in present:
            db.execute(f"ALTER TABLE anchors ADD COLUMN {column} {declaration}")
    db.execute(schema.SPACE_ANCHORS_INDEX)
    for statement in SPACE_REVISION_TRIGGERS:
        db.execute(statement)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def seal_format_2(db: Transaction, key_check: bytes, seal_blocks: Callable[[Transaction], None]) -> None:
    """Format 2 to 4: `seal_blocks(db)` seals each block's plain `title` and `content` into its `body`;
    then the plain columns are dropped. Afterwards VACUUM the file, so no plain text stays in free pages."""
    db.execute("ALTER TABLE blocks ADD COLUMN public INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE blocks ADD COLUMN body BLOB")
    for statement in TABLES:
        db.execute(statement)
    seal_blocks(db)
    db.execute("ALTER TABLE blocks DROP COLUMN title")
    db.execute("ALTER TABLE blocks DROP COLUMN content")
    db.execute("INSERT INTO key_check (id, sealed) VALUES (1, ?)", (key_check,))
    add_spaces(db)


def add_signatures(db: Transaction) -> None:
    db.execute(SIGNATURES)
    db.execute(SIGNATURES_INDEX)
