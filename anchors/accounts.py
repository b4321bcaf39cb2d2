"""Users and their tokens: issued per device, checked on every request and frame, listed and revoked."""

from __future__ import annotations

import hashlib
import secrets

from anchors.errors import NotFound
from anchors.model import User
from anchors.storage.interface import AccountStore, TokenInfo
from anchors.storage.interface import token_id as public_token_id


def hash_token(token: str) -> str:
    """What the store keeps of a token. Tokens are 256 random bits, so no guess or dictionary can find
    one from its SHA-256; slow, salted password hashes are for secrets people choose."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def create_user(self, name: str) -> User:
        return self.store.create_user(name)

    def find_user(self, name: str) -> User | None:
        return self.store.find_user(name)

    def ensure_user(self, name: str) -> User:
        return self.find_or_create(name)[0]

    def find_or_create(self, name: str) -> tuple[User, bool]:
        """The user named `name`, and True when this call created them (one of several replicas asking at once)."""
        found = self.store.find_user(name)
        return (found, False) if found is not None else self.store.ensure_user(name)

    def issue_token(self, user: User, label: str = "default", replace: bool = False) -> str:
        """A new token for `user`; with `replace`, earlier tokens of the same label stop working."""
        if replace:
            self.store.revoke_tokens(user.id, label)
        token = secrets.token_urlsafe(32)
        self.store.add_token(user.id, hash_token(token), label)
        return token

    def authenticate(self, token: str | None) -> User | None:
        return self.store.user_for_token_hash(hash_token(token)) if token else None

    @staticmethod
    def token_id(token: str) -> str:
        """The id a token is listed and revoked by."""
        return public_token_id(hash_token(token))

    def tokens(self, user: User) -> list[TokenInfo]:
        return self.store.tokens_of(user.id)

    def revoke_token(self, user: User, token_id: str) -> None:
        """Revoke one of `user`'s own tokens by id; another user's token is not found."""
        if not self.store.revoke_token(user.id, token_id):
            raise NotFound(f"{user.name} has no token {token_id}")

    def revoke_device(self, user: User, device: str) -> int:
        """Revoke every token `user` issued for `device`; returns how many."""
        return self.store.revoke_tokens(user.id, device)

    def revoke_presented(self, token: str) -> bool:
        """Revoke the token itself (signing out with it)."""
        return self.store.revoke_token_hash(hash_token(token))
