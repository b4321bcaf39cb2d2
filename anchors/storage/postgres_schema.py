"""The PostgreSQL store's schema: the shared tables (`anchors.storage.schema`) in PostgreSQL's types, the
trigger that counts each space's revisions, the triggers that write the change log, the signatures table,
and the format kept in the database.

The format is kept in the one-row table `store_format`. PostgreSQL stores
begin at format 4 (SQLite's formats 1 to 3 never existed here), so there is
no older database to upgrade yet; a later format adds its step from the one
before here, as `anchors.storage.sqlite_schema` does for SQLite files. A database of
another format, or one that holds the store's tables without a format, is
refused. Every statement may run again on a database that has it already.
"""

from __future__ import annotations

from anchors.storage import schema
from anchors.storage.database import Transaction
from anchors.storage.schema import SCHEMA_VERSION, StoreFormatError

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


def _log(source: schema.ChangeSource, row: str) -> str:
    """The statement that logs `row` (NEW or OLD) of `source`, stamped with the next seq."""
    under = f"{row}.{source.under_column}" if source.under_column else "NULL"
    return (f"INSERT INTO changes (seq, subject, subject_id, under) VALUES ({schema.NEXT_SEQ},"
            f" '{source.subject}', {row}.{source.id_column}, {under});")


def _log_function(source: schema.ChangeSource) -> str:
    """A trigger function that logs each row of `source` written or deleted; a row moved under another
    parent is logged under where it was as well."""
    under = source.under_column
    moved = (f"IF TG_OP = 'UPDATE' AND OLD.{under} IS DISTINCT FROM NEW.{under} THEN {_log(source, 'OLD')} END IF;"
             if under else "")
    return f"""CREATE OR REPLACE FUNCTION log_{source.table}_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            {_log(source, 'OLD')}
        ELSE
            {_log(source, 'NEW')}
            {moved}
        END IF;
        RETURN NULL;
    END $$"""


CHANGE_LOG: tuple[str, ...] = (
    *schema.statements(schema.CHANGE_TABLES, TYPES),
    *(statement for source in schema.CHANGE_SOURCES for statement in (
        _log_function(source),
        f"""CREATE OR REPLACE TRIGGER {source.table}_changed AFTER INSERT OR UPDATE OR DELETE ON {source.table}
           FOR EACH ROW EXECUTE FUNCTION log_{source.table}_change()""",
    )),
    f"""CREATE OR REPLACE FUNCTION prune_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM changes WHERE seq <= NEW.seq - {schema.CHANGES_KEPT};
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER changes_pruned AFTER INSERT ON changes
       FOR EACH ROW WHEN (mod(NEW.seq, 1000) = 0) EXECUTE FUNCTION prune_changes()""",
    # The log starts at the blocks' latest stamp, so stamps never go back.
    """INSERT INTO changes (seq, subject, subject_id, under)
       SELECT (SELECT COALESCE(MAX(seq), 0) FROM blocks), 'store', 'opened', NULL
       WHERE NOT EXISTS (SELECT 1 FROM changes)""",
)
"""The change log (`anchors.storage.schema.CHANGE_TABLES`) and the triggers that write it. Stamps follow commit order
because every write transaction holds the store's write lock (`anchors.storage.postgres.WRITE_LOCK`)."""


def add_change_log(db: Transaction) -> None:
    """The change log, where the database has it not yet (it needs no new format, as on SQLite)."""
    for statement in CHANGE_LOG:
        db.execute(statement)


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
    add_change_log(db)

