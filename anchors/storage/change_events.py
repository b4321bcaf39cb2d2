"""What a committed write changed, as a store reports it to whoever keeps copies of stored data.

A store calls its `watch` callbacks with the changes of every transaction it
commits, in commit order: SQLite those of this process; PostgreSQL those of
every replica on the database, through LISTEN/NOTIFY on `CHANNEL`. A change
names what changed and never holds content (no titles, no cells, no token):

| kind | id | op | also |
| --- | --- | --- | --- |
| `user` | user id | created | |
| `token` | user id | issued, revoked | |
| `block` | block id | created, updated, moved, deleted, shared, unshared, public | `seq` (the block's new stamp, not on deletes or access changes), `parent`, `user` (shares) |
| `anchor` | anchor id | created, moved, deleted | `parent` (its block), `space` (placed in one) |
| `space` | space id | created, renamed, map, deleted, shared, unshared | `user` (shares) |
| `signature` | instance id | added, forgotten | `seq` (the signature row's) |
| `service_key` | "" | rotated | |
| `lost` | "" | "" | changes may have been missed (the listener reconnected): drop whatever is cached |

A block created with children (a table with its rows) is one `created`
change for the top block, and a deletion one `deleted` change for the block
deleted: what was under it went with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

CHANNEL = "spatial_changes"
"""The PostgreSQL notification channel every replica listens on."""

LOST = "lost"


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    op: str
    seq: int | None = None
    parent: str | None = None
    space: str | None = None
    user: str | None = None
    origin: str = ""
    """The store instance (one per process) that made it: a process can tell its own changes."""

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Change:
        return cls(**data)  # type: ignore[arg-type]


def lost_changes() -> Change:
    """Said when changes may have been missed: everything cached from the store must be read again."""
    return Change(LOST, "", "")


Watcher = Callable[[Sequence[Change]], None]
"""Called with the changes of one committed transaction (or a lost-changes notice)."""

NOTIFY_PAYLOAD_BYTES = 7900
"""Under PostgreSQL's 8,000-byte limit on one notification's payload."""


def payloads(changes: Sequence[Change]) -> list[str]:
    """`changes` as JSON lists, each short enough for one notification."""
    out: list[str] = []
    batch: list[str] = []
    size = 2
    for change in changes:
        text = json.dumps(change.to_json(), separators=(",", ":"))
        if batch and size + len(text) + 1 > NOTIFY_PAYLOAD_BYTES:
            out.append("[" + ",".join(batch) + "]")
            batch, size = [], 2
        batch.append(text)
        size += len(text) + 1
    if batch:
        out.append("[" + ",".join(batch) + "]")
    return out


def from_payload(payload: str) -> list[Change]:
    return [Change.from_json(item) for item in json.loads(payload)]
