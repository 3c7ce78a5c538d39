"""A tiny explicit name -> object registry whose errors list the valid names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; ``register`` is used as a decorator in the module that owns them.

    Lookup is exact first, then case-insensitive. An unknown name raises ``KeyError`` whose message
    names the value, suggests the closest match and lists every valid name.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        folded = {key.lower(): key for key in self._items}
        if isinstance(name, str) and name.lower() in folded:
            return self._items[folded[name.lower()]]
        close = difflib.get_close_matches(str(name), list(self._items), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(self._items)}")

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (case-insensitive match), or KeyError as in ``get``."""
        obj = self.get(name)
        return next(key for key, value in self._items.items() if value is obj)

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in {key.lower() for key in self._items}

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
