"""The PostgreSQL store's schema: the shared tables (`anchors.schema`) in PostgreSQL's types, the
trigger that counts each space's revisions, the signatures table, and the format kept in the database.

The format is kept in the one-row table `store_format`. PostgreSQL stores
begin at format 4 (SQLite's formats 1 to 3 never existed here), so there is
no older database to upgrade yet; a later format adds its step from the one
before here, as `anchors.sqlite_schema` does for SQLite files. A database of
another format, or one that holds the store's tables without a format, is
refused. Every statement may run again on a database that has it already.
"""

from __future__ import annotations

from anchors import schema
from anchors.database import Transaction
from anchors.schema import SCHEMA_VERSION, StoreFormatError

TYPES = schema.ColumnTypes(binary="BYTEA", double="DOUBLE PRECISION")

FORMAT_TABLE = """CREATE TABLE IF NOT EXISTS store_format (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)"""

TABLES: tuple[str, ...] = (
    *schema.statements(schema.TABLES, TYPES),
    *schema.statements(schema.SPACE_TABLES, TYPES),
    *(f"ALTER TABLE anchors ADD COLUMN IF NOT EXISTS {column} {declaration}"
      for column, declaration in schema.ANCHOR_SPACE_COLUMNS),
    schema.SPACE_ANCHORS_INDEX,
)

SPACE_REVISIONS: tuple[str, ...] = (
    # Any change to a space's anchors, however made (a block deleted with its anchors too), bumps its revision.
    """CREATE OR REPLACE FUNCTION count_space_revision() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            UPDATE spaces SET revision = revision + 1 WHERE id = OLD.space_id;
        ELSE
            UPDATE spaces SET revision = revision + 1 WHERE id = NEW.space_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER space_anchor_added AFTER INSERT ON anchors
       FOR EACH ROW WHEN (NEW.space_id IS NOT NULL) EXECUTE FUNCTION count_space_revision()""",
    """CREATE OR REPLACE TRIGGER space_anchor_moved AFTER UPDATE OF space_pose ON anchors
       FOR EACH ROW WHEN (NEW.space_id IS NOT NULL) EXECUTE FUNCTION count_space_revision()""",
    """CREATE OR REPLACE TRIGGER space_anchor_removed AFTER DELETE ON anchors
       FOR EACH ROW WHEN (OLD.space_id IS NOT NULL) EXECUTE FUNCTION count_space_revision()""",
)

SIGNATURES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS signatures (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance_id TEXT NOT NULL,
        label TEXT NOT NULL,
        taught INTEGER NOT NULL,
        owner TEXT,
        data BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS signatures_by_instance ON signatures(instance_id)",
)


def stored_format(db: Transaction, location: str) -> int:
    """The database's format, 0 for one without the store's tables; one this version cannot read is refused."""
    tables = {r["table_name"] for r in db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()}
    if "store_format" not in tables:
        if "blocks" in tables:
            raise StoreFormatError(f"{location} holds tables named like the store's but no store format;"
                                   " give the store a database of its own")
        return 0
    version = db.execute("SELECT version FROM store_format WHERE id = 1").fetchone()["version"]
    if version != SCHEMA_VERSION:
        raise StoreFormatError(
            f"{location} holds store format {version}; this version reads format {SCHEMA_VERSION}."
            " Use the version of spatial that wrote it, or a new database."
        )
    return version


def create(db: Transaction, key_check: bytes) -> None:
    """A new store's tables at the current format; `key_check` tells later opens the service key is right."""
    for statement in (FORMAT_TABLE, *TABLES, *SPACE_REVISIONS, *SIGNATURES):
        db.execute(statement)
    db.execute("INSERT INTO key_check (id, sealed) VALUES (1, ?)", (key_check,))
    db.execute("INSERT INTO store_format (id, version) VALUES (1, ?)", (SCHEMA_VERSION,))

