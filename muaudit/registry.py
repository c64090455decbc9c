"""A name -> object registry that refuses silent overwrites and lists valid names in errors."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from muaudit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Registry of one plug-in family (datasets, architectures, methods, attacks, ...).

    Example:
        >>> ARCHS = Registry("architecture")
        >>> @ARCHS.register("tiny")
        ... def tiny(): ...
        >>> ARCHS.get("tiny") is tiny
        True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, force: bool = False):
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def add(item: T) -> T:
            key = name.lower()
            if key in self._items and not force:
                raise ConfigError(f"{self.kind} {name!r} is already registered; pass force=True to replace it")
            self._items[key] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[str(name).lower()]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


def check_kwargs(kind: str, name: str, fn: Callable, kwargs: dict) -> None:
    """Raise a ConfigError naming unknown keyword arguments of ``fn`` and the valid ones."""
    import inspect

    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for {kind} {name!r}; valid: {', '.join(valid) or 'none'}")
