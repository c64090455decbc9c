"""The dataset registry and :func:`load_dataset`."""

from __future__ import annotations

from muaudit.registry import Registry, check_kwargs

DATASETS: Registry = Registry("dataset")


def load_dataset(name: str, **options):
    """Load a registered dataset by name; ``options`` go to its loader (e.g. ``path=``).

    Example:
        >>> ds = load_dataset("digits")
        >>> ds.X.shape, len(ds.train_idx)
        ((1797, 1, 8, 8), 1347)
    """
    import muaudit.data.builtin  # noqa: F401  (registers loaders)
    import muaudit.data.files  # noqa: F401
    import muaudit.data.tabular  # noqa: F401

    loader = DATASETS.get(name)
    check_kwargs("dataset", name, loader, options)
    ds = loader(**options)
    if not ds.options:
        object.__setattr__(ds, "options", dict(options))
    return ds
