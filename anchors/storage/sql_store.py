"""The store in SQL, written once for SQLite and PostgreSQL: queries, row mapping and encryption at rest.

A block's title and content are stored sealed (AES-GCM, `anchors.crypto`)
under its owner's data key, and so is a space's map; the data keys are stored
wrapped by the service key, which is never stored. The database sees only
ciphertext for titles, content and maps, and ids, times and shares in the
clear (so that queries work). `SQLiteStore` and `PostgresStore` open their
database, create or upgrade its tables, and hand it here.

Every write reports what it changed (`anchors.storage.change_events`) to the database's
watchers once committed.

The SQL is written by subject, each part over the same database and keys:
keys (`sql_keys`), users and tokens (`sql_accounts`), blocks (`sql_blocks`),
shares (`sql_shares`), anchors (`sql_anchors`), spaces (`sql_spaces`) and the
change log (`change_log`); `SQLStore` composes them into one `Store`.
"""

from __future__ import annotations

from anchors.crypto import ServiceKey
from anchors.storage.change_log import SQLChangeLog
from anchors.storage.database import Database
from anchors.storage.signatures import SignatureStore
from anchors.storage.sql_accounts import SQLAccounts
from anchors.storage.sql_anchors import SQLAnchors
from anchors.storage.sql_shares import SQLShares
from anchors.storage.sql_spaces import SQLSpaces


class SQLStore(SQLAccounts, SQLShares, SQLAnchors, SQLSpaces, SQLChangeLog):
    """The store over one SQL database, safe to share between threads. `location` names it in messages."""

    def __init__(self, db: Database, service_key: ServiceKey, location: str) -> None:
        super().__init__(db, service_key, location)
        self._signatures = SignatureStore(db)

    def signatures(self) -> SignatureStore:
        return self._signatures

    def close(self) -> None:
        self._db.close()
