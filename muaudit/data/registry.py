"""The dataset registry and :func:`load_dataset`."""

from __future__ import annotations

from muaudit.registry import Registry, check_kwargs

DATASETS: Registry = Registry("dataset")


def load_dataset(name: str, *, defer_inputs: bool = False, **options):
    """Load a registered dataset by name; ``options`` go to its loader (e.g. ``path=``).

    A loader may defer its inputs (:class:`~muaudit.data.dataset.DeferredInputs`: the synthetic
    one); they are read here unless ``defer_inputs``, so that the fingerprint hashes the array
    (with ``defer_inputs`` and no read of ``X`` before it, the fingerprint hashes the inputs as they
    are produced and keeps none; a later read of ``X`` produces them again).

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
    if not defer_inputs:
        ds.X  # noqa: B018 (read deferred inputs now)
    if not ds.options:
        object.__setattr__(ds, "options", dict(options))
    return ds
