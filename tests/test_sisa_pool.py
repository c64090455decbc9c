"""Pools of SISA shadows with ``[[unlearn]] method = "sisa"`` (muaudit.sisa.pool): exact SISA
unlearning of every shadow, SISA retrains, U-LiRA of sisa, resuming, bad recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from muaudit.cli.main import cli
from muaudit.errors import ConfigError
from muaudit.pool import build_pool, load_spec
from muaudit.pool.spec import PoolSpec
from muaudit.pool.store import Pool
from muaudit.sisa.config import SisaConfig, drop, partition
from muaudit.sisa.pool import needed_stages
from muaudit.sisa.target import shard_factory
from muaudit.sisa.train import stage_cost, train_sisa
from muaudit.training import predict_logits
from muaudit.training.threads import using_threads
from tests.kit import sisa_digits_recipe

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py

RECIPE = sisa_digits_recipe(extra="save_weights = true\n")
ENTRY = '\n[[unlearn]]\nmethod = "sisa"\nforget_fraction = 0.05\nretrain = true\n'


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 4-shadow SISA pool (3 shards x 3 slices) with a sisa entry and SISA retrains (~3 s)."""
    d = tmp_path_factory.mktemp("sisa-pool")
    (d / "s.toml").write_text(RECIPE + ENTRY)
    spec = load_spec(d / "s.toml")
    with using_threads(1):
        build_pool(spec, d / "pool")
    ds = spec.load_dataset()
    make = shard_factory("mlp", {"hidden": [16]}, ds.input_shape, ds.n_classes)
    return {"dir": d, "spec": spec, "pool": Pool(d / "pool" / "pool.h5"), "make": make,
            "X": torch.as_tensor(ds.X), "y": torch.as_tensor(ds.y)}


def sisa_logits(b, rows, seed, exclude=()):
    """Logits of the SISA model of ``rows`` (seed ``seed``) trained without ``exclude``, from scratch."""
    spec = b["spec"]
    parts = drop(partition(rows, spec.sisa, random_state=seed), exclude)
    run = train_sisa(b["make"], b["X"], b["y"], parts, spec.train, spec.sisa, random_state=seed, keep_checkpoints=False)
    return predict_logits(run.model, b["X"]), parts


def test_unlearned_shadows_equal_scratch_bit_for_bit(built):
    pool, g = built["pool"], built["pool"].unlearned["sisa"]
    assert g.done.all() and g.attrs["method"] == "sisa" and (g.forget <= pool.keep).all()
    for m in range(2):
        keep, forget, seed = np.flatnonzero(pool.keep[m]), np.flatnonzero(g.forget[m]), int(pool.seeds[m])
        base, parts = sisa_logits(built, keep, seed)
        unl, kept = sisa_logits(built, keep, seed, exclude=forget)
        assert np.array_equal(base, pool.logits([m])[0])  # keeping stage checkpoints changed no training
        assert np.array_equal(unl, pool.logits([m], group=g.path)[0])  # SISA unlearning is exact
        assert np.abs(unl - base).max() > 1e-3  # ... and did something
        hit = needed_stages(parts, [forget])
        cost = sum(stage_cost(kept[k], built["spec"].train.epochs, start=min(hit[k])) for k in range(3) if hit[k])
        assert int(g.sample_gradients[m]) == cost


def test_retrains_are_sisa_models_of_the_retained_rows(built):
    pool, g = built["pool"], built["pool"].unlearned["sisa"]
    r = pool.retrained["sisa"]
    m = 1
    rows = np.flatnonzero(pool.keep[m] & ~g.forget[m])
    fresh, parts = sisa_logits(built, rows, int(pool.seeds[m]))  # a fresh partition of keep_m minus F_m
    assert np.array_equal(fresh, pool.logits([m], group=r.path)[0])
    assert int(r.sample_gradients[m]) == sum(stage_cost(s, built["spec"].train.epochs) for s in parts)
    assert not np.array_equal(fresh, pool.logits([m], group=g.path)[0])  # not the unlearned shadow itself


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_ulira_of_sisa_runs_from_the_cli(built, tmp_path):
    res = CliRunner().invoke(cli, ["ulira", "--pool", str(built["dir"] / "pool"), "--method", "sisa",
                                   "--out", str(tmp_path / "u"), "--json"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "u" / "results.json").is_file() and '"method": "sisa"' in res.output


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_entry_added_to_a_built_pool_gives_the_same_rows(built, tmp_path):
    """Resuming with a new sisa entry: the stored shadows (no stage checkpoints in weights/) are
    trained again from their seeds, and the rows equal those of a build that had the entry."""
    (tmp_path / "s.toml").write_text(RECIPE)
    with using_threads(1):
        build_pool(load_spec(tmp_path / "s.toml"), tmp_path / "pool")
        (tmp_path / "s.toml").write_text(RECIPE + ENTRY)
        build_pool(load_spec(tmp_path / "s.toml"), tmp_path / "pool")
    pool, ref = Pool(tmp_path / "pool" / "pool.h5"), built["pool"]
    for group in ("unlearned/sisa", "retrain/sisa"):
        assert np.array_equal(pool.logits(range(4), group=group), ref.logits(range(4), group=group))


def test_needed_stages_are_the_ones_before_the_first_hit_slice():
    parts = partition(np.arange(30), SisaConfig(shards=3, slices=3), random_state=0)
    f = np.array([parts[0][2][0], parts[0][1][0], parts[2][2][1]])
    assert needed_stages(parts, [f]) == [{1}, set(), {2}]
    assert needed_stages(parts, []) == [set(), set(), set()]


@pytest.mark.parametrize("recipe, msg", [
    ({"sisa": {"shards": 2}, "unlearn": [{"method": "ga"}]}, 'takes only method = "sisa", got \'ga\''),
    ({"unlearn": [{"method": "sisa"}]}, 'method "sisa" unlearns SISA shadows; add a [sisa] section'),
    ({"sisa": {"shards": 2}, "unlearn": [{"method": "sisa", "budget": 0.5}]}, "takes no budget"),
    ({"sisa": {"shards": 2}, "unlearn": [{"method": "sisa", "config": {"epochs": 2}}]},
     "unknown option 'epochs' for [[unlearn]] method 'sisa'; valid: none"),
])
def test_bad_sisa_entries(recipe, msg):
    with pytest.raises(ConfigError) as e:
        PoolSpec.from_dict(recipe)
    assert msg in str(e.value)


def test_pool_build_refuses_another_method_in_one_error_line(tmp_path):
    (tmp_path / "bad.toml").write_text(RECIPE + '\n[[unlearn]]\nmethod = "ga"\n')
    res = CliRunner().invoke(cli, ["pool", "build", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "p")])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith("Error: ") and 'takes only method = "sisa"' in lines[0]
    assert not (tmp_path / "p").exists()


@pytest.fixture(scope="module")
def slow_pool(tmp_path_factory):
    """16 SISA shadows (S = 3, R = 2, MLP 64, 30 epochs) with a sisa entry on 30% forget sets and SISA
    retrains (about 30 s of CPU); built only for the slow tests."""
    d = tmp_path_factory.mktemp("sisa-slow")
    recipe = (RECIPE.replace("hidden = [16]", "hidden = [64]").replace("epochs = 4", "epochs = 30")
              .replace("slices = 3", "slices = 2").replace("n_models = 4", "n_models = 16")
              .replace("save_weights = true", "save_weights = false"))
    (d / "s.toml").write_text(recipe + ENTRY.replace("0.05", "0.3"))
    with using_threads(1):
        build_pool(load_spec(d / "s.toml"), d / "pool")
    return d


@pytest.mark.slow
def test_ulira_cannot_tell_sisa_from_retraining_but_catches_the_original(slow_pool):
    """U-LiRA of sisa against SISA retrains (and against its own shadows that never saw x) is not
    `not unlearned`, while the same evaluation of the never-unlearned original (the control) tells
    it apart (measured: sisa AUC 0.494 [0.477, 0.511] against retrains, 0.493 [0.473, 0.512]
    against same-method; control 0.751 [0.730, 0.773] and 0.547 [0.529, 0.567])."""
    from muaudit.jobs.ulira import run_ulira

    for reference in ("retrain", "same-method"):  # not "out": it also tells the unlearned shadows' smaller training sets
        res, _ = run_ulira(pool=slow_pool / "pool", method="sisa", reference=reference, out=slow_pool / reference)
        ctl = res["power_control"]
        assert res["verdict"] != "not unlearned"
        assert ctl["auc_ci"][0] > 0.5  # the original is told from the reference: the evaluation has power


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sisa_unlearned_target_is_never_not_unlearned(slow_pool, seed, tmp_path):
    """A SISA-unlearned model (exact: the SISA model trained without F) audited with LiRA against
    the SISA pool, over seeds: not `not unlearned` (on digits at 64 shadows: 1 in 96, the audit's
    alpha; docs/sisa.md)."""
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train
    from muaudit.jobs.unlearn import unlearn_checkpoint

    run_train(slow_pool / "s.toml", tmp_path / "orig.pt", random_state=seed, threads=1)
    forget = np.random.default_rng(seed).choice(1347, 404, replace=False)
    np.save(tmp_path / "f.npy", forget)
    with using_threads(1):
        unlearn_checkpoint("sisa", tmp_path / "orig.pt", tmp_path / "f.npy", tmp_path / "unl.pt")
    res, _ = run_lira(target=tmp_path / "unl.pt", forget=tmp_path / "f.npy", pool=slow_pool / "pool", write=False)
    assert res["verdict"] != "not unlearned"
