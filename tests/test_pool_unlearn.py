"""Pools with ``[[unlearn]]`` entries: recipe parsing, unlearned / retrain groups, adding methods to
a built pool (with and without saved base weights), resuming, sharding, and exact Error lines."""

import dataclasses
import json
import warnings

import numpy as np
import pytest

import muaudit.pool.tasks as tasks_module
from muaudit.errors import PoolError
from muaudit.pool import Pool, build_pool, load_spec, merge_pools
from muaudit.pool.entries import UnlearnEntry, forget_matrix
from tests.kit import error_line, interrupt_pool_commits, run


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


GA = '[[unlearn]]\nmethod = "ga"\nconfig = { epochs = 1 }\nretrain = true\n'
FT = '[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\n'


def recipe(tiny_recipe, entries, **kw):
    return tiny_recipe(extra="\n" + entries, **kw)


def arrays(pool: Pool) -> dict:
    out = {"": pool.logits()}
    out.update({name: pool.logits(group=name) for name in pool.groups})
    return out


def assert_same(a: Pool, b: Pool) -> None:
    x, y = arrays(a), arrays(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_build_stores_unlearned_and_retrained_shadows(tiny_recipe, tmp_path):
    spec = load_spec(recipe(tiny_recipe, GA + FT))
    pool = Pool(build_pool(spec, tmp_path / "p"))
    assert sorted(pool.groups) == ["retrain/ga", "unlearned/ft", "unlearned/ga"]
    ga, rt = pool.groups["unlearned/ga"], pool.groups["retrain/ga"]
    assert ga.done.all() and rt.done.all() and not (ga.forget & ~pool.keep).any()
    np.testing.assert_array_equal(ga.forget.sum(1), np.round(0.1 * pool.keep.sum(1)))
    np.testing.assert_array_equal(ga.forget, forget_matrix(spec.unlearn[0], pool.keep, pool.seeds, None))
    np.testing.assert_array_equal(pool.groups["unlearned/ft"].forget, ga.forget)  # same forget settings
    assert (ga.sample_gradients == ga.forget.sum(1)).all()  # GA: one epoch over F_m
    np.testing.assert_array_equal(rt.sample_gradients, 3 * (pool.keep & ~rt.forget).sum(1))
    assert ga.attrs["method"] == "ga" and '"epochs": 1' in ga.attrs["config"] and ga.entry["retrain"] is True
    assert pool.logits(group="unlearned/ga").shape == pool.logits().shape
    assert not np.array_equal(pool.logits(group="unlearned/ga"), pool.logits())
    assert len(list((tmp_path / "p" / "weights").glob("m*.pt"))) == 4  # base weights kept for later entries
    info = run("pool", "info", tmp_path / "p").output
    assert "unlearned/ga  4/4 done (ga; |F_m| " in info and "retrain/ga    4/4 done (retrain;" in info


@pytest.mark.slow  # measured: 1.8 s CPU (the fast loop, docs/development.md)
def test_adding_an_entry_reuses_the_saved_base_models(tiny_recipe, tmp_path, monkeypatch):
    both = load_spec(recipe(tiny_recipe, GA + FT))
    full = Pool(build_pool(both, tmp_path / "full"))
    build_pool(dataclasses.replace(both, unlearn=both.unlearn[:1]), tmp_path / "grown")
    calls = []
    real = tasks_module.train_models
    monkeypatch.setattr(tasks_module, "train_models", lambda *a, **k: calls.append(1) or real(*a, **k))
    grown = Pool(build_pool(both, tmp_path / "grown"))
    assert calls == []  # no base model was retrained: their weights were loaded
    assert_same(grown, full)


@pytest.mark.slow  # measured: 1.1 s CPU (the fast loop, docs/development.md)
def test_adding_an_entry_without_saved_weights_retrains_the_base_deterministically(tiny_recipe, tmp_path):
    spec = load_spec(recipe(tiny_recipe, FT))
    full = Pool(build_pool(spec, tmp_path / "full"))
    build_pool(dataclasses.replace(spec, unlearn=()), tmp_path / "old")  # no entries: no weights saved
    assert not (tmp_path / "old" / "weights").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grown = Pool(build_pool(spec, tmp_path / "old"))
    assert not [w for w in caught if "differs from its stored logits" in str(w.message)]
    assert_same(grown, full)
    assert (tmp_path / "old" / "weights" / "m00000.pt").is_file()


@pytest.mark.slow  # measured: 1.8 s CPU (the fast loop, docs/development.md)
def test_stale_weights_are_not_trusted(tiny_recipe, tmp_path):
    both = load_spec(recipe(tiny_recipe, GA + FT))
    full = Pool(build_pool(both, tmp_path / "full"))
    build_pool(dataclasses.replace(both, unlearn=both.unlearn[:1]), tmp_path / "p")
    w = tmp_path / "p" / "weights"
    (w / "m00000.pt").write_bytes((w / "m00001.pt").read_bytes())  # another shadow's weights
    with pytest.warns(UserWarning, match="m00000.pt does not reproduce shadow 0's stored logits; retraining it"):
        grown = Pool(build_pool(both, tmp_path / "p"))
    assert_same(grown, full)


@pytest.mark.slow  # measured: 1.3 s CPU (the fast loop, docs/development.md)
def test_interrupted_build_resumes_to_identical_groups(tiny_recipe, tmp_path, monkeypatch):
    spec = load_spec(recipe(tiny_recipe, GA))
    ref = Pool(build_pool(spec, tmp_path / "ref"))
    restore = interrupt_pool_commits(monkeypatch, at=3)
    with pytest.raises(KeyboardInterrupt):
        build_pool(spec, tmp_path / "p")
    restore()
    half = Pool(tmp_path / "p")
    assert half.n_done == 2 and half.groups["unlearned/ga"].done.sum() == 2  # a model and its groups commit together
    assert_same(Pool(build_pool(spec, tmp_path / "p")), ref)


@pytest.mark.slow  # measured: 2.0 s CPU (the fast loop, docs/development.md)
def test_shards_merge_with_their_groups(tiny_recipe, tmp_path):
    spec = load_spec(recipe(tiny_recipe, GA))
    full = Pool(build_pool(spec, tmp_path / "full"))
    shards = [build_pool(spec, tmp_path / "sh", shard=(k, 2)) for k in range(2)]
    assert Pool(shards[0]).groups["unlearned/ga"].done.tolist() == [True, False, True, False]
    assert_same(Pool(merge_pools(tmp_path / "merged", shards)), full)


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_entries_with_equal_forget_settings_share_one_retrain(tiny_recipe, tmp_path):
    spec = load_spec(recipe(tiny_recipe, GA + FT.replace("\n", "\nretrain = true\n", 1)))
    pool = Pool(build_pool(spec, tmp_path / "p"))
    np.testing.assert_array_equal(pool.logits(group="retrain/ga"), pool.logits(group="retrain/ft"))


def test_forget_aware_pool_unlearns_its_fixed_forget_set(tiny_recipe, tmp_path):
    spec = load_spec(recipe(tiny_recipe, '[[unlearn]]\nmethod = "ga"\nforget = "pool"\nconfig = { epochs = 1 }\n'))
    with pytest.raises(PoolError, match='uses forget = "pool", but the pool is not forget-aware; build it with --forget IDX'):
        build_pool(spec, tmp_path / "plain")
    forget = np.arange(0, 1347, 50)
    pool = Pool(build_pool(spec, tmp_path / "fa", forget=forget))
    g = pool.groups["unlearned/ga"]
    has = g.forget.any(1)
    assert has.sum() == 2 and (g.forget.sum(1)[has] == len(forget)).all()
    unl, base = pool.logits(group="unlearned/ga"), pool.logits()
    np.testing.assert_array_equal(unl[~has], base[~has])  # nothing to forget: the base model
    assert (g.sample_gradients[~has] == 0).all() and not np.array_equal(unl[has], base[has])


def test_changed_entry_is_refused(tiny_recipe, tmp_path):
    build_pool(load_spec(recipe(tiny_recipe, GA)), tmp_path / "p")
    changed = recipe(tiny_recipe, GA.replace("epochs = 1", "epochs = 2"))
    assert error_line(run("pool", "build", changed, "--out", tmp_path / "p")) == (
        f"Error: [[unlearn]] entry 'ga' differs from the one pool {tmp_path / 'p' / 'pool.h5'} was built with; "
        "keep it unchanged, or give the changed entry another `name`")


@pytest.mark.parametrize("entries, error", [
    ('[[unlearn]]\nmethod = "nope"\n', "Error: unknown unlearning method 'nope'; valid: bt, cf-k, cfw, ct, eu-k, fcs, ff, "
     "ft, ga, gd, iu, kde, msg, ng+, ngd, original, prmq, retrain, rni, salun, scrub, srl, ssd"),
    ('[[unlearn]]\nmethod = "ga"\nconfig = { epochz = 1 }\n',
     "Error: unknown option 'epochz' for unlearning method 'ga'; valid: lr, momentum, weight_decay, epochs, batch_size"),
    ('[[unlearn]]\nmethod = "ga"\nconfig = { lr = -1 }\n', "Error: Expected `lr` > 0, got -1"),
    ('[[unlearn]]\nmethod = "ga"\nretrian = true\n', "Error: unknown unlearn key 'retrian'; valid: method, name, config, "
     "forget, forget_fraction, forget_seed, retrain, budget"),
    ('[[unlearn]]\nmethod = "ga"\nforget_fraction = 1.5\n', "Error: Expected [[unlearn]] `forget_fraction` in (0, 1), got 1.5"),
    ('[[unlearn]]\nmethod = "ga"\nforget = "all"\n', "Error: Expected [[unlearn]] `forget` in ('random', 'pool'), got 'all'"),
    ('[[unlearn]]\nmethod = "ga"\nretrain = "yes"\n', "Error: Expected [[unlearn]] `retrain` true or false, got 'yes'"),
    ('[[unlearn]]\nmethod = "ga"\n[[unlearn]]\nmethod = "ga"\n',
     "Error: two [[unlearn]] entries are named 'ga'; give one a different `name`"),
    ('[[unlearn]]\nname = "x"\n', "Error: every [[unlearn]] entry needs a `method`"),
    ('[unlearn]\nmethod = "ga"\n', "Error: recipe key `unlearn` must be an array of tables ([[unlearn]])"),
    ('[[unlearn]]\nmethod = "ga"\nname = "a/b"\n',
     "Error: Expected [[unlearn]] `name` of letters, digits and '_-+.' starting with a letter or digit (at most 64), got 'a/b'"),
    ('[[unlearn]]\nmethod = "ga"\nname = "."\n',
     "Error: Expected [[unlearn]] `name` of letters, digits and '_-+.' starting with a letter or digit (at most 64), got '.'"),
])
def test_bad_unlearn_entries(tiny_recipe, tmp_path, entries, error):
    assert error_line(run("pool", "build", recipe(tiny_recipe, entries), "--out", tmp_path / "p")) == error


def test_entry_json_round_trip():
    e = UnlearnEntry(method="ng+", config={"alpha": 0.9}, retrain=True)
    assert e.name == "ng+" and UnlearnEntry(**json.loads(e.to_json())) == e
