"""Shadow-model pools: recipes, keep-matrix designs, the HDF5 store, build/resume/shard/merge."""

from muaudit.pool.build import build_pool, merge_pools, parse_shard
from muaudit.pool.entries import UnlearnEntry
from muaudit.pool.design import balanced_keep, forget_aware_keep, make_keep, model_seeds
from muaudit.pool.info import format_summary, pool_summary
from muaudit.pool.spec import PoolSpec, load_spec
from muaudit.pool.store import SCHEMA_VERSION, Pool

__all__ = ["Pool", "PoolSpec", "SCHEMA_VERSION", "balanced_keep", "build_pool", "forget_aware_keep",
           "format_summary", "load_spec", "make_keep", "merge_pools", "model_seeds", "parse_shard", "pool_summary", "UnlearnEntry"]
