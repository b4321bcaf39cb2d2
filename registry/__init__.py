"""The one registry type: named items of one kind (detector backends, compute functions, sheet functions).

A name is taken once: registering it again is refused with `DuplicateName`
unless the caller says `replace=True`, so two plugins cannot shadow each other
without saying so. Looking up a name that is not there raises `UnknownName`
(a `LookupError`), whose message names the known ones. It lives in a package
of its own because `vision` and `anchors` may not import each other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
_DECORATE: Any = object()
"""`register` called without an item: it returns a decorator."""


class RegistryError(Exception):
    """A registry was asked for something it cannot do."""


class DuplicateName(RegistryError, ValueError):
    """A name is registered already, and the caller did not ask to replace it."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} is already registered")
        self.kind = kind
        self.name = name


class UnknownName(RegistryError, LookupError):
    """No item is registered under a name; the message lists the names that are."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        super().__init__(f"no {kind} named {name!r} (registered: {', '.join(known) or 'none'})")
        self.kind = kind
        self.name = name
        self.known = known


class Registry(Generic[T]):
    """Items of one `kind` by name. Safe to use from several threads.

    `unknown` is the error a missing name raises: `UnknownName` or a subclass
    (one that is also the error type its callers already handle).
    `on_register` is told each name and item as they are registered.
    """

    def __init__(self, kind: str, unknown: type[UnknownName] = UnknownName,
                 on_register: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind
        self._unknown = unknown
        self._on_register = on_register
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    @overload
    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T, *, replace: bool = False) -> T: ...

    def register(self, name: str, item: Any = _DECORATE, *, replace: bool = False) -> Any:
        """Hold `item` as `name` and return it; without `item`, a decorator that registers what it decorates.

        Raises DuplicateName where `name` is taken, unless `replace`.
        """
        if item is _DECORATE:
            return lambda decorated: self.register(name, decorated, replace=replace)
        with self._lock:
            if name in self._items and not replace:
                raise DuplicateName(self.kind, name)
            if self._on_register is not None:
                self._on_register(name, item)
            self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item registered as `name`; raises this registry's UnknownName where there is none."""
        try:
            return self._items[name]
        except KeyError:
            raise self._unknown(self.kind, name, self.names()) from None

    def find(self, name: str) -> T | None:
        """The item registered as `name`, or None."""
        return self._items.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        with self._lock:
            return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, item), sorted by name."""
        with self._lock:
            return sorted(self._items.items(), key=lambda pair: pair[0])

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
