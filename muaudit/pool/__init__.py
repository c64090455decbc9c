"""Shadow-model pools: recipes, keep-matrix designs, the HDF5 store, build/resume/shard/merge.

The build (``build_pool``, ``merge_pools``, ``parse_shard``) is imported on first use: it needs
torch, which an audit of precomputed logits never loads (about 1.5 s of a short audit's start)."""

from muaudit.lazy import lazy_exports
from muaudit.pool.entries import UnlearnEntry
from muaudit.pool.design import balanced_keep, forget_aware_keep, make_keep, model_seeds
from muaudit.pool.info import format_summary, pool_summary
from muaudit.pool.spec import PoolSpec, load_spec
from muaudit.pool.store import SCHEMA_VERSION, Pool

__all__ = ["Pool", "PoolSpec", "SCHEMA_VERSION", "balanced_keep", "build_pool", "forget_aware_keep",
           "format_summary", "load_spec", "make_keep", "merge_pools", "model_seeds", "parse_shard", "pool_summary", "UnlearnEntry"]


__getattr__ = lazy_exports(__name__, {"build_pool": "build", "merge_pools": "build", "parse_shard": "build"})
