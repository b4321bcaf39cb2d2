"""The change log: what was written to a store after a stamp, by id, as its readers ask for it (pull).

Every write to blocks, shares and anchors is logged with a stamp by the
store's own triggers (`anchors.storage.schema.CHANGE_TABLES`), so the log holds
the writes of every process that shares the store. The changes a write pushes
to watchers as it commits are `anchors.storage.change_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anchors.storage.change_events import Watcher
from anchors.storage.database import Database
from anchors.storage.schema import CHANGES_SINCE


@dataclass(frozen=True)
class ChangeSet:
    """What was written to a store after a stamp (`Store.changes_since`), by id; nothing of the content.

    Readers keep what they built from the store (a viewer's overlays, say) and ask for this with the
    stamp they last saw, to redo only what it touches. It is read from the store's own log, so it holds
    the writes of every process that shares the store.
    """

    seq: int
    """The latest stamp: ask from here next time."""
    complete: bool
    """False when the log does not reach back to the stamp asked about (or none was given): anything may
    have changed, so start over. The sets below are empty then."""
    blocks: frozenset[str] = frozenset()
    """Blocks written, created, moved, deleted, or made public or private."""
    parents: frozenset[str] = frozenset()
    """Blocks one of whose children was one of those (as it is now or was before a move or delete)."""
    shares: frozenset[str] = frozenset()
    """Blocks shared with someone, or whose share changed or was taken back."""
    anchors: frozenset[str] = frozenset()
    """Anchors added, moved or removed."""
    objects: frozenset[str] = frozenset()
    """The objects (or places in a space) those anchors pin to."""

    def __bool__(self) -> bool:
        return not self.complete or bool(self.blocks or self.shares or self.anchors)

    @classmethod
    def from_log(cls, since: int | None, rows: Sequence[tuple[int, str, str, str | None]]) -> ChangeSet:
        """The changes in the log rows (seq, subject, subject id, under) from `since` on, that stamp's own row
        first: without it (pruned, or `since` None) the set is not complete."""
        if since is None or not rows or rows[0][0] != since:
            return cls(rows[-1][0] if rows else since or 0, complete=False)
        sets: dict[str, set[str]] = {"block": set(), "parents": set(), "share": set(), "anchor": set(), "objects": set()}
        for _, subject, subject_id, under in rows[1:]:
            if subject in ("block", "share", "anchor"):
                sets[subject].add(subject_id)
            if under is not None:
                sets["parents" if subject == "block" else "objects"].add(under)
        return cls(rows[-1][0], True, frozenset(sets["block"]), frozenset(sets["parents"]), frozenset(sets["share"]),
                   frozenset(sets["anchor"]), frozenset(sets["objects"]))


class SQLChangeLog:
    """The change log read in SQL, and the watchers of committed writes."""

    _db: Database

    def changes_since(self, seq: int | None) -> ChangeSet:
        if seq is None:
            latest = self._db.query_one("SELECT MAX(seq) AS seq FROM changes")
            return ChangeSet.from_log(None, [(latest["seq"] if latest else 0, "", "", None)])
        rows = self._db.query(CHANGES_SINCE, (seq,))
        return ChangeSet.from_log(seq, [(r["seq"], r["subject"], r["subject_id"], r["under"]) for r in rows])

    def watch(self, watcher: Watcher) -> None:
        self._db.watch(watcher)
