"""The SQL store's shares, of blocks and spaces alike, public blocks, and the role a user has on either."""

from __future__ import annotations

from anchors.model import ROLE_RANK, Role, User
from anchors.storage.change_events import Change
from anchors.storage.database import Database, Transaction
from anchors.storage.interface import Subject
from anchors.storage.schema import SHARE_TABLES
from anchors.storage.sql_blocks import CHAIN


class SQLShares:
    """Shares and roles in SQL."""

    _db: Database

    def set_share(self, subject: Subject, subject_id: str, user_id: str, role: Role) -> None:
        table, column = SHARE_TABLES[subject]

        def run(tx: Transaction) -> None:
            tx.execute(
                f"INSERT INTO {table} ({column}, user_id, role) VALUES (?, ?, ?)"
                f" ON CONFLICT ({column}, user_id) DO UPDATE SET role = excluded.role",
                (subject_id, user_id, role),
            )
            tx.changed(Change(subject, subject_id, "shared", user=user_id))

        self._db.transaction(run)

    def remove_share(self, subject: Subject, subject_id: str, user_id: str) -> bool:
        table, column = SHARE_TABLES[subject]

        def run(tx: Transaction) -> bool:
            removed = tx.execute(f"DELETE FROM {table} WHERE {column} = ? AND user_id = ?", (subject_id, user_id)).rowcount
            if removed:
                tx.changed(Change(subject, subject_id, "unshared", user=user_id))
            return removed > 0

        return self._db.transaction(run)

    def shares_of(self, subject: Subject, subject_id: str) -> list[tuple[User, Role]]:
        table, column = SHARE_TABLES[subject]
        rows = self._db.query(
            f"SELECT u.id, u.name, s.role FROM {table} s JOIN users u ON u.id = s.user_id WHERE s.{column} = ?"
            " ORDER BY u.name",
            (subject_id,),
        )
        return [(User(r["id"], r["name"]), r["role"]) for r in rows]

    def set_public(self, block_id: str, public: bool) -> None:
        def run(tx: Transaction) -> None:
            if tx.execute("UPDATE blocks SET public = ? WHERE id = ?", (int(public), block_id)).rowcount:
                tx.changed(Change("block", block_id, "public"))

        self._db.transaction(run)

    def role_of(self, subject: Subject, subject_id: str, user_id: str) -> Role | None:
        return self._space_role(subject_id, user_id) if subject == "space" else self._block_role(subject_id, user_id)

    def _block_role(self, block_id: str, user_id: str) -> Role | None:
        rows = self._db.query(
            CHAIN + "SELECT CASE WHEN c.owner = :user THEN 'owner' ELSE COALESCE("
            "(SELECT role FROM shares s WHERE s.block_id = c.id AND s.user_id = :user),"
            " CASE WHEN c.public <> 0 THEN 'read' END) END AS role FROM chain c",
            {"user": user_id, "block": block_id},
        )
        roles = [r["role"] for r in rows if r["role"]]
        return max(roles, key=ROLE_RANK.__getitem__) if roles else None

    def _space_role(self, space_id: str, user_id: str) -> Role | None:
        row = self._db.query_one(
            "SELECT CASE WHEN s.owner = :user THEN 'owner' ELSE"
            " (SELECT role FROM space_shares h WHERE h.space_id = s.id AND h.user_id = :user) END AS role"
            " FROM spaces s WHERE s.id = :space",
            {"user": user_id, "space": space_id},
        )
        return row["role"] if row is not None else None
