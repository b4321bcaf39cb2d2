"""Who may do what, for blocks and spaces alike: the role check every service call makes, and shares.

A user's role on a block or a space is `owner`, `write` or `read` (or none),
as the store works it out (`Store.role_of`). Something a user may not read is
reported as not found, so ids of others' blocks and spaces leak nothing. Only
the owner shares; a share gives `read` or `write`.
"""

from __future__ import annotations

from typing import Protocol

from anchors.errors import NotFound, PermissionDenied
from anchors.model import Role, User
from anchors.storage.interface import AccountStore, ShareStore, Subject

READ: tuple[str, ...] = ("owner", "write", "read")
WRITE: tuple[str, ...] = ("owner", "write")
OWNER: tuple[str, ...] = ("owner",)


class SharingStore(ShareStore, AccountStore, Protocol):
    """What sharing reads and writes: shares and roles, and users looked up by name."""


class Sharing:
    """Access to one subject (`block` or `space`): checks and shares, by subject id."""

    def __init__(self, store: SharingStore, subject: Subject) -> None:
        self.store = store
        self.subject = subject

    def role(self, user: User, subject_id: str) -> Role | None:
        return self.store.role_of(self.subject, subject_id, user.id)

    def require(self, user: User, subject_id: str, roles: tuple[str, ...]) -> None:
        """Raise unless `user` holds one of `roles`: NotFound when they may not even read it."""
        role = self.role(user, subject_id)
        if role is None:
            raise NotFound(f"no {self.subject} {subject_id}")
        if role not in roles:
            raise PermissionDenied(
                f"{user.name} may not do this to {self.subject} {subject_id} (their access: {role})"
            )

    def share(self, user: User, subject_id: str, with_user: str, role: Role) -> None:
        """Give the user named `with_user` `read` or `write` access (the owner's right)."""
        self.require(user, subject_id, OWNER)
        target = self.store.find_user(with_user)
        if target is None:
            raise NotFound(f"no user named {with_user!r}")
        if role not in ("read", "write"):
            raise PermissionDenied(f"a share's role is 'read' or 'write', not {role!r}")
        self.store.set_share(self.subject, subject_id, target.id, role)

    def unshare(self, user: User, subject_id: str, with_user: str) -> None:
        """Take back the share of the user named `with_user` (the owner's right)."""
        self.require(user, subject_id, OWNER)
        target = self.store.find_user(with_user)
        if target is None or not self.store.remove_share(self.subject, subject_id, target.id):
            raise NotFound(f"{self.subject} {subject_id} is not shared with a user named {with_user!r}")

    def shares(self, subject_id: str) -> list[tuple[User, Role]]:
        """Who it is shared with, by user name (access not checked)."""
        return self.store.shares_of(self.subject, subject_id)
