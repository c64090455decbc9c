"""Names a package exports but imports on first use (PEP 562): the packages whose modules need
torch (:mod:`muaudit.models`, :mod:`muaudit.training`, the build of :mod:`muaudit.pool`) keep
their public names while an audit of precomputed logits never loads torch."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """A module ``__getattr__`` for ``package`` that imports ``name`` from submodule ``exports[name]``.

    Example:
        >>> getattr_ = lazy_exports("muaudit", {"Registry": "registry"})
        >>> getattr_("Registry").__name__
        'Registry'
    """

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
