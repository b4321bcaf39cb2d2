"""Opening a store by its location: a SQLite file's path, or a URL whose scheme names the store.

    open_store("~/.local/share/spatial/store.db")              # SQLite
    open_store("postgresql://spatial@db.example:5432/spatial", key_file=...)   # PostgreSQL

Anything that looks like a URL (`scheme://...`) with a scheme not in
`SCHEMES` is refused, rather than taken for a relative file path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from anchors.crypto import ServiceKey
from anchors.storage.interface import Store

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _postgres(url: str, service_key: ServiceKey | None, key_file: str | Path | None) -> Store:
    from anchors.storage.postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL store

    return PostgresStore(url, service_key, key_file)


SCHEMES: dict[str, Callable[[str, ServiceKey | None, str | Path | None], Store]] = {
    "postgresql": _postgres,
    "postgres": _postgres,
}


class StoreLocationError(ValueError):
    """A store location that names no store this version knows."""


def url_scheme(location: str) -> str | None:
    """The scheme of a location written as a URL, None for a file path."""
    match = _URL.match(location)
    return match.group(1).lower() if match else None


def open_store(location: str | Path, service_key: ServiceKey | None = None,
               key_file: str | Path | None = None) -> Store:
    """The store at `location`: a SQLite file (made if new) or a database named by URL."""
    from anchors.storage.sqlite import SQLiteStore

    scheme = url_scheme(str(location))
    if scheme is None:
        return SQLiteStore(location, service_key, key_file)
    if scheme not in SCHEMES:
        known = ", ".join(f"{name}://" for name in SCHEMES)
        raise StoreLocationError(
            f"--store {scheme}://... names no store this version knows: use {known} for PostgreSQL,"
            " or a file path for SQLite"
        )
    return SCHEMES[scheme](str(location), service_key, key_file)
