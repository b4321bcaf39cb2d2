"""The storage interface. SQLite implements it; a server database can too.

A store checks nothing about who asks: `BlockService` does that. Every method
that writes returns only after the write is committed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from anchors.model import Anchor, Block, Role, User


class Store(ABC):
    # users and tokens
    @abstractmethod
    def create_user(self, name: str) -> User: ...

    @abstractmethod
    def find_user(self, name: str) -> User | None: ...

    @abstractmethod
    def add_token(self, user_id: str, token_hash: str, label: str) -> None: ...

    @abstractmethod
    def revoke_tokens(self, user_id: str, label: str) -> int: ...

    @abstractmethod
    def user_for_token_hash(self, token_hash: str) -> User | None: ...

    # blocks
    @abstractmethod
    def insert_block(self, owner: str, kind: str, title: str, content: Any) -> Block: ...

    @abstractmethod
    def get_block(self, block_id: str) -> Block | None: ...

    @abstractmethod
    def update_block(self, block_id: str, title: str, content: Any, expected_version: int) -> Block | None:
        """The updated block, or None when its version is no longer `expected_version`."""

    @abstractmethod
    def delete_block(self, block_id: str) -> None:
        """Delete the block with its anchors and shares."""

    @abstractmethod
    def readable_blocks(self, user_id: str) -> list[Block]: ...

    @abstractmethod
    def block_count(self) -> int: ...

    # sharing
    @abstractmethod
    def set_share(self, block_id: str, user_id: str, role: Role) -> None: ...

    @abstractmethod
    def role_of(self, block_id: str, user_id: str) -> Role | None: ...

    # anchors
    @abstractmethod
    def insert_anchor(self, block_id: str, object_id: str, pose: tuple[float, ...], owner: str) -> Anchor: ...

    @abstractmethod
    def get_anchor(self, anchor_id: str) -> Anchor | None: ...

    @abstractmethod
    def delete_anchor(self, anchor_id: str) -> None: ...

    @abstractmethod
    def readable_anchors(self, user_id: str, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """Anchors on `object_ids` whose blocks `user_id` may read, with those blocks."""

    @abstractmethod
    def close(self) -> None: ...
