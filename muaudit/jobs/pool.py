"""``muaudit pool build|info|verify|merge``: shadow-model pools from files (the CLI only parses options).

:class:`PoolBuild` checks every input of a build (the recipe, by path or packaged name, its
overrides, the forget file, the shard) before anything is trained; :meth:`PoolBuild.run` trains
(or resumes) the pool on an executor and returns its summary. :func:`run_pool_build` does both
in one call. :func:`summarize_pool`, :func:`~muaudit.pool.verify.verify_pool` and :func:`merge_shards`
serve ``pool info``, ``pool verify`` and ``pool merge``; their summaries print with
:func:`~muaudit.pool.format_summary` / :func:`~muaudit.pool.verify.format_verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.pool import Pool, PoolSpec, build_pool, format_summary, load_spec, merge_pools, parse_shard, pool_summary
from muaudit.pool.recipes import default_pool_dir, resolve_recipe
from muaudit.pool.verify import format_verify, verify_pool

__all__ = ["PoolBuild", "format_summary", "format_verify", "merge_shards", "run_pool_build", "summarize_pool",
           "verify_pool"]


@dataclass(frozen=True)
class PoolBuild:
    """A checked ``pool build``: the recipe's ``spec`` (with overrides), the pool directory
    ``out``, the ``forget`` set (training-split positions, a forget-aware pool) and the ``shard``
    ``(k, n)`` to build, all validated by :meth:`prepare` before any training."""

    spec: PoolSpec
    out: Path
    forget: np.ndarray | None = None
    shard: tuple[int, int] | None = None

    @classmethod
    def prepare(cls, recipe, *, out=None, n_models: int | None = None, forget=None, shard: str | None = None,
                arch: str | None = None) -> "PoolBuild":
        """``recipe``: a TOML path or a packaged recipe's name; ``out``: the pool directory (default
        :func:`~muaudit.pool.recipes.default_pool_dir`); ``n_models`` overrides the recipe's;
        ``forget``: an index file of training-split positions; ``shard``: ``"k/n"``; ``arch``
        trusts the model factory the recipe names (see :func:`muaudit.pool.load_spec`)."""
        recipe = resolve_recipe(recipe)
        spec = load_spec(recipe, arch=arch)
        if n_models is not None:
            spec = spec.with_overrides(n_models=n_models)
        out = Path(out) if out else default_pool_dir(recipe)
        return cls(spec, out, _load_forget(forget, spec), parse_shard(shard))

    def run(self, *, device=None, executor=None, threads: int | None = None, progress=None) -> dict:
        """Train (or resume) the pool (see :func:`muaudit.pool.build_pool`: ``executor`` default this
        process with ``threads`` torch threads; ``progress(done, total)`` per finished model); return
        :func:`summarize_pool` of the finished pool (of the shard's file for a shard)."""
        path = build_pool(self.spec, self.out, forget=self.forget, shard=self.shard, device=device,
                          executor=executor, threads=threads, progress=progress)
        return summarize_pool(path)


def _load_forget(path, spec: PoolSpec) -> np.ndarray | None:
    if path is None:
        return None
    from muaudit.data import load_index_file

    return load_index_file(path, len(spec.load_dataset().train_idx), what="forget")


def run_pool_build(recipe, *, out=None, n_models: int | None = None, forget=None, shard: str | None = None,
                   arch: str | None = None, device=None, executor=None, threads: int | None = None,
                   progress=None) -> dict:
    """Build (or resume) the pool of ``recipe``; return its summary (``pool info``'s dict).

    Arguments as for :meth:`PoolBuild.prepare` and :meth:`PoolBuild.run`.

    Example:
        Two shadows of the tiny recipe of the doctest setup (``conftest.py``):

        >>> summary = run_pool_build(recipe, out=tmp / "pool", n_models=2)
        >>> summary["n_done"], summary["n_models"], summary["forget_aware"]
        (2, 2, False)
    """
    job = PoolBuild.prepare(recipe, out=out, n_models=n_models, forget=forget, shard=shard, arch=arch)
    return job.run(device=device, executor=executor, threads=threads, progress=progress)


def summarize_pool(pool_dir) -> dict:
    """The summary of a built pool (progress, keep balance, shadow accuracy, recipe, digest).

    Example:
        >>> summarize_pool(pool_dir)["n_done"]
        8
    """
    return pool_summary(Pool(pool_dir))


def merge_shards(out, shards) -> dict:
    """Join the shard files ``shards`` (built with ``shard="k/n"``) into ``out/pool.h5``; return
    the merged pool's summary.

    Example:
        >>> for k in (0, 1):
        ...     _ = run_pool_build(recipe, out=tmp / "shards", n_models=2, shard=f"{k}/2")
        >>> merge_shards(tmp / "merged", sorted((tmp / "shards").glob("shard-*.h5")))["n_done"]
        2
    """
    return summarize_pool(merge_pools(out, list(shards)))
