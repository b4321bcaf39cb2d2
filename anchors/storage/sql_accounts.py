"""The SQL store's users and their tokens (stored only as hashes)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from anchors.model import User
from anchors.storage.change_events import Change
from anchors.storage.database import Database, Transaction
from anchors.storage.interface import TOKEN_ID_HEX, TOKEN_ID_PREFIX, TokenInfo, new_id, token_id


class SQLAccounts:
    """Users and tokens in SQL."""

    _db: Database

    def create_user(self, name: str) -> User:
        user = User(id=new_id("usr"), name=name)

        def run(tx: Transaction) -> None:
            tx.execute("INSERT INTO users (id, name) VALUES (?, ?)", (user.id, name))
            tx.changed(Change("user", user.id, "created"))

        self._db.transaction(run)
        return user

    def ensure_user(self, name: str) -> tuple[User, bool]:
        candidate = new_id("usr")

        def run(tx: Transaction) -> tuple[User, bool]:
            inserted = tx.execute(
                "INSERT INTO users (id, name) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (candidate, name)
            ).rowcount
            row = tx.execute("SELECT id, name FROM users WHERE name = ?", (name,)).fetchone()
            if inserted:
                tx.changed(Change("user", row["id"], "created"))
            return User(row["id"], row["name"]), bool(inserted)

        return self._db.transaction(run)

    def find_user(self, name: str) -> User | None:
        row = self._db.query_one("SELECT id, name FROM users WHERE name = ?", (name,))
        return User(row["id"], row["name"]) if row else None

    def add_token(self, user_id: str, token_hash: str, label: str) -> None:
        def run(tx: Transaction) -> None:
            tx.execute(
                "INSERT INTO tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, label, time.time()),
            )
            tx.changed(Change("token", user_id, "issued"))

        self._db.transaction(run)

    def _revoke(self, where: str, params: Sequence[Any]) -> int:
        """Delete the tokens matching `where`; how many."""

        def run(tx: Transaction) -> int:
            users = [r["user_id"] for r in tx.execute(f"DELETE FROM tokens WHERE {where} RETURNING user_id", params).fetchall()]
            tx.changed(*(Change("token", user, "revoked") for user in dict.fromkeys(users)))
            return len(users)

        return self._db.transaction(run)

    def revoke_tokens(self, user_id: str, label: str) -> int:
        return self._revoke("user_id = ? AND label = ?", (user_id, label))

    def revoke_token(self, user_id: str, token_id: str) -> bool:
        prefix = token_id.removeprefix(TOKEN_ID_PREFIX)
        return self._revoke(
            f"user_id = ? AND substr(token_hash, 1, {TOKEN_ID_HEX}) = ?",
            (user_id, prefix if len(prefix) == TOKEN_ID_HEX else ""),
        ) > 0

    def revoke_token_hash(self, token_hash: str) -> bool:
        return self._revoke("token_hash = ?", (token_hash,)) > 0

    def tokens_of(self, user_id: str) -> list[TokenInfo]:
        rows = self._db.query(
            "SELECT token_hash, label, created_at FROM tokens WHERE user_id = ? ORDER BY created_at", (user_id,)
        )
        return [TokenInfo(token_id(r["token_hash"]), r["label"], r["created_at"]) for r in rows]

    def user_for_token_hash(self, token_hash: str) -> User | None:
        row = self._db.query_one(
            "SELECT u.id, u.name FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (token_hash,),
        )
        return User(row["id"], row["name"]) if row else None
