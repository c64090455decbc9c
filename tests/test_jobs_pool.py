"""muaudit.jobs.pool: `pool build` checks every input before training, then builds; `merge` and `info` summarise."""

import numpy as np
import pytest

from muaudit.errors import DataError, PoolError
from muaudit.jobs.pool import PoolBuild, merge_shards, run_pool_build, summarize_pool


def test_prepare_checks_every_input_and_writes_nothing(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    np.save(tmp_path / "forget.npy", np.arange(10))
    job = PoolBuild.prepare(recipe, n_models=2, forget=tmp_path / "forget.npy", shard="1/2")
    assert (job.spec.n_models, job.out, job.shard) == (2, recipe.with_suffix(""), (1, 2))
    np.testing.assert_array_equal(job.forget, np.arange(10))
    with pytest.raises(PoolError, match=r"Expected --shard k/n with 0 <= k < n, got '2/2'"):
        PoolBuild.prepare(recipe, out=tmp_path / "p", shard="2/2")
    np.save(tmp_path / "bad.npy", np.array([0, 5000]))
    with pytest.raises(DataError, match="forget"):
        PoolBuild.prepare(recipe, out=tmp_path / "p", forget=tmp_path / "bad.npy")
    assert not (tmp_path / "p").exists() and not recipe.with_suffix("").exists()


def test_build_shards_merge_and_info(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    for k in (0, 1):
        s = run_pool_build(recipe, out=tmp_path / "shards", n_models=2, shard=f"{k}/2")
        assert (s["n_done"], s["n_models"]) == (1, 2)
    merged = merge_shards(tmp_path / "merged", sorted((tmp_path / "shards").glob("shard-*.h5")))
    assert (merged["n_done"], merged["n_models"]) == (2, 2)
    assert summarize_pool(tmp_path / "merged") == merged
