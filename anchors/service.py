"""Access-checked operations on blocks and anchors.

Readers are the owner and users the block is shared with; writers are the owner
and users shared with `write`; only the owner deletes or shares. A block a user
may not read is reported as not found, so ids of others' blocks leak nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from anchors.errors import NotFound, PermissionDenied, VersionConflict
from anchors.model import IDENTITY_POSE, Anchor, Block, Role, User, validate_content, validate_pose
from anchors.store import Store


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class BlockService:
    def __init__(self, store: Store) -> None:
        self.store = store

    # identity
    def create_user(self, name: str) -> User:
        return self.store.create_user(name)

    def ensure_user(self, name: str) -> User:
        return self.store.find_user(name) or self.store.create_user(name)

    def issue_token(self, user: User, label: str = "default", replace: bool = False) -> str:
        """A new token for `user`; with `replace`, earlier tokens of the same label stop working."""
        if replace:
            self.store.revoke_tokens(user.id, label)
        token = secrets.token_urlsafe(32)
        self.store.add_token(user.id, hash_token(token), label)
        return token

    def authenticate(self, token: str | None) -> User | None:
        return self.store.user_for_token_hash(hash_token(token)) if token else None

    # blocks
    def create_block(self, user: User, kind: str, title: str, content: Any) -> Block:
        return self.store.insert_block(user.id, kind, title, validate_content(kind, content))

    def read_block(self, user: User, block_id: str) -> Block:
        self._require(user, block_id, ("owner", "write", "read"))
        return self._block(block_id)

    def list_blocks(self, user: User) -> list[Block]:
        return self.store.readable_blocks(user.id)

    def update_block(
        self, user: User, block_id: str, *, title: str | None, content: Any, version: int | None
    ) -> Block:
        """Edit a block; `version`, when given, must be the version the edit was based on."""
        self._require(user, block_id, ("owner", "write"))
        current = self._block(block_id)
        if version is not None and version != current.version:
            raise VersionConflict(
                f"block {block_id} is at version {current.version}, the edit was based on version {version}"
            )
        new_content = current.content if content is None else validate_content(current.kind, content)
        updated = self.store.update_block(
            block_id, current.title if title is None else title, new_content, current.version
        )
        if updated is None:
            raise VersionConflict(f"block {block_id} changed while it was being edited; read it again")
        return updated

    def delete_block(self, user: User, block_id: str) -> None:
        self._require(user, block_id, ("owner",))
        self.store.delete_block(block_id)

    def share_block(self, user: User, block_id: str, with_user: str, role: Role) -> None:
        self._require(user, block_id, ("owner",))
        target = self.store.find_user(with_user)
        if target is None:
            raise NotFound(f"no user named {with_user!r}")
        if role not in ("read", "write"):
            raise PermissionDenied(f"a share's role is 'read' or 'write', not {role!r}")
        self.store.set_share(block_id, target.id, role)

    # anchors
    def attach(self, user: User, block_id: str, object_id: str, pose: Any = IDENTITY_POSE) -> Anchor:
        self._require(user, block_id, ("owner", "write"))
        return self.store.insert_anchor(block_id, object_id, validate_pose(pose), user.id)

    def detach(self, user: User, anchor_id: str) -> None:
        anchor = self.store.get_anchor(anchor_id)
        if anchor is None or self.store.role_of(anchor.block_id, user.id) is None:
            raise NotFound(f"no anchor {anchor_id}")
        self._require(user, anchor.block_id, ("owner", "write"))
        self.store.delete_anchor(anchor_id)

    def attached(self, user: User, object_ids: Iterable[str]) -> list[tuple[Anchor, Block]]:
        """What `user` may see pinned to any of `object_ids`."""
        return self.store.readable_anchors(user.id, object_ids)

    def _block(self, block_id: str) -> Block:
        block = self.store.get_block(block_id)
        if block is None:
            raise NotFound(f"no block {block_id}")
        return block

    def _require(self, user: User, block_id: str, roles: tuple[str, ...]) -> None:
        role = self.store.role_of(block_id, user.id)
        if role is None:
            raise NotFound(f"no block {block_id}")
        if role not in roles:
            raise PermissionDenied(f"{user.name} may not do this to block {block_id} (their access: {role})")
