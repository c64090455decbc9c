"""SISA (muaudit.sisa): training mode, exact unlearning, pools of SISA shadows, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from muaudit.errors import ConfigError
from muaudit.jobs.train import run_train
from muaudit.jobs.unlearn import unlearn_checkpoint
from muaudit.models import read_checkpoint
from muaudit.targets import open_target
from muaudit.pool.spec import PoolSpec
from muaudit.sisa import SISAModel, SisaConfig, partition, stage_epochs
from muaudit.sisa.store import read_sisa_checkpoint
from muaudit.sisa.train import stage_cost
from muaudit.training.threads import using_threads
from tests.kit import error_line, run, sisa_digits_recipe

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def write_recipe(path, shards=3, slices=3, aggregation="mean"):
    path.write_text(sisa_digits_recipe(shards=shards, slices=slices, aggregation=aggregation))
    return path


@pytest.fixture(scope="module")
def sisa(tmp_path_factory):
    """A SISA original (3 shards x 3 slices), a forget set spread over shards and slices, the
    unlearned model, and a SISA model trained from scratch without the forget set (same seed)."""
    d = tmp_path_factory.mktemp("sisa")
    recipe = write_recipe(d / "s.toml")
    run_train(recipe, d / "orig.pt", random_state=5, threads=1)
    meta = read_checkpoint(d / "orig.pt")[1]
    parts = meta["sisa"]["parts"]  # shard 0: slice 2 and 3; shard 1: slice 1; shard 2: untouched
    forget = np.array([parts[0][1][0], parts[0][2][3], parts[1][0][2], parts[1][2][1]])
    np.save(d / "forget.npy", forget)
    with using_threads(1):
        res = unlearn_checkpoint("sisa", d / "orig.pt", d / "forget.npy", d / "unl.pt")
    run_train(recipe, d / "scratch.pt", random_state=5, exclude=d / "forget.npy", threads=1)
    return {"dir": d, "recipe": recipe, "forget": forget, "res": res, "parts": parts}


def test_plan_stage_epochs_and_partition():
    assert stage_epochs(20, 1) == [20]
    assert stage_epochs(10, 4) == [4, 4, 4, 4]  # a = 2e/(R+1) = 4
    for e, r in [(7, 3), (30, 5), (3, 10)]:
        per = stage_epochs(e, r)
        assert sum(per) == (2 * e * r) // (r + 1)  # total work: sum_r e_r * r/R ~ e epochs of the shard
        assert abs(sum(p * (i + 1) / r for i, p in enumerate(per)) - e) <= r
    cfg = SisaConfig(shards=4, slices=3)
    parts = partition(np.arange(10, 110), cfg, random_state=0)
    flat = np.concatenate([s for sl in parts for s in sl])
    assert sorted(flat.tolist()) == list(range(10, 110)) and all(len(s) >= 8 for sl in parts for s in sl)
    assert [len(sl) for sl in parts] == [3] * 4
    assert all(np.array_equal(a, b) for x, y in zip(parts, partition(np.arange(10, 110), cfg, random_state=0))
               for a, b in zip(x, y))
    assert not np.array_equal(parts[0][0], partition(np.arange(10, 110), cfg, random_state=1)[0][0])
    with pytest.raises(ConfigError, match="needs at least 12 training examples, got 11"):
        partition(np.arange(11), cfg, random_state=0)


def test_unlearned_equals_scratch_bit_for_bit(sisa):
    d = sisa["dir"]
    su, mu, cu = read_sisa_checkpoint(d / "unl.pt")
    ss, ms, cs = read_sisa_checkpoint(d / "scratch.pt")
    assert su.keys() == ss.keys() and all(torch.equal(su[k], ss[k]) for k in su)
    assert all(torch.equal(a[n], b[n]) for x, y in zip(cu, cs) for a, b in zip(x, y) for n in a)
    assert mu["sisa"]["parts"] == ms["sisa"]["parts"] and mu["train_idx"] == ms["train_idx"]
    assert not set(sisa["forget"].tolist()) & set(mu["train_idx"])


def test_influence_gone_from_every_checkpoint_it_reached(sisa):
    d = sisa["dir"]
    _, _, co = read_sisa_checkpoint(d / "orig.pt")
    _, _, cu = read_sisa_checkpoint(d / "unl.pt")
    first = {0: 2, 1: 1}  # the first slice (1-based) holding a forget example, per affected shard
    for k in range(3):
        for r in range(4):  # checkpoint r = after stage r (0 = initialisation)
            same = all(torch.equal(co[k][r][n], cu[k][r][n]) for n in co[k][r])
            assert same == (k not in first or r < first[k]), (k, r)


def test_bookkeeping_and_cost(sisa):
    rec = sisa["res"]["sisa"]
    assert rec["retrained"] == [{"shard": 0, "from_slice": 2, "stages": [2, 3]},
                                {"shard": 1, "from_slice": 1, "stages": [1, 2, 3]}]
    _, mu, _ = read_sisa_checkpoint(sisa["dir"] / "unl.pt")
    parts = [[np.array(s) for s in sl] for sl in mu["sisa"]["parts"]]
    assert rec["sample_gradients"] == stage_cost(parts[0], 4, start=1) + stage_cost(parts[1], 4)
    assert rec["full_sisa_retrain_sample_gradients"] == sum(stage_cost(p, 4) for p in parts)
    assert rec["single_model_retrain_sample_gradients"] == 4 * len(mu["train_idx"])
    assert rec["speedup_vs_sisa_retrain"] > 1.4
    assert mu["unlearning"]["method"] == "sisa" and mu["unlearning"]["sisa"] == rec
    assert [len(s) for s in mu["sisa"]["parts"][2]] == [len(s) for s in sisa["parts"][2]]
    assert sum(len(s) for s in mu["sisa"]["parts"][0]) == sum(len(s) for s in sisa["parts"][0]) - 2


def test_unlearn_twice_and_cli_output(sisa, tmp_path):
    d = sisa["dir"]
    keep = np.setdiff1d(np.asarray(read_checkpoint(d / "unl.pt")[1]["sisa"]["parts"][2][0]), sisa["forget"])
    np.save(tmp_path / "more.npy", keep[:1])
    r = run("unlearn", "--method", "sisa", "--model", d / "unl.pt", "--forget", tmp_path / "more.npy",
            "--out", tmp_path / "twice.pt", "--threads", 1)
    assert r.exit_code == 0, r.output
    assert "sisa: retrained 1 of 3 shards (shard 2 from slice 1)" in r.output
    meta = read_checkpoint(tmp_path / "twice.pt")[1]
    assert len(meta["train_idx"]) == len(read_checkpoint(d / "orig.pt")[1]["train_idx"]) - 5
    assert meta["unlearning_history"][0]["method"] == "sisa"


def test_sisa_model_loads_as_target_and_aggregates(sisa):
    t = open_target(sisa["dir"] / "orig.pt")
    assert isinstance(t.model, SISAModel) and len(t.model.shards) == 3
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        probs = torch.stack([torch.softmax(m(x), -1) for m in t.model.shards]).mean(0)
        assert torch.allclose(t.model(x).exp(), probs, atol=1e-6)
        t.model.aggregation = "vote"
        votes = torch.stack([m(x).argmax(-1) for m in t.model.shards])
        out = t.model(x)
    assert torch.isfinite(out).all() and torch.allclose(out.exp().sum(-1), torch.ones(5))
    for i in range(5):
        counts = np.bincount(votes[:, i].numpy(), minlength=10)
        assert out[i].argmax().item() == int(np.argmax(counts))


def test_recipe_records_sisa_section(tmp_path):
    spec = PoolSpec.from_dict({"model": {"arch": "mlp"}, "sisa": {"shards": 5, "slices": 2, "aggregation": "vote"}})
    assert json.loads(spec.to_json())["sisa"] == {"shards": 5, "slices": 2, "aggregation": "vote"}
    assert PoolSpec.from_dict(json.loads(spec.to_json())) == spec
    assert "sisa" not in json.loads(PoolSpec.from_dict({"model": {"arch": "mlp"}}).to_json())
    with pytest.raises(ConfigError, match="a recipe with a \\[sisa\\] section takes only method = \"sisa\""):
        PoolSpec.from_dict({"sisa": {"shards": 2}, "unlearn": [{"method": "ft"}]})
    for bad, msg in [({"shards": 0}, "`shards` an integer >= 1"), ({"aggregation": "max"}, "`aggregation` in"),
                     ({"shard": 3}, "unknown option 'shard'"), ({"slices": 2.5}, "`slices` an integer")]:
        with pytest.raises(ConfigError, match=msg):
            PoolSpec.from_dict({"sisa": bad})


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_pool_of_sisa_shadows_and_audit(sisa, tmp_path):
    from muaudit.jobs.lira import run_lira
    from muaudit.models import load_checkpoint
    from muaudit.pool import build_pool, load_spec
    from muaudit.pool.store import Pool

    spec = load_spec(sisa["recipe"]).with_overrides(n_models=4, save_weights=True)
    with using_threads(1):
        path = build_pool(spec, tmp_path / "pool")
    pool = Pool(path)
    assert pool.spec["sisa"] == {"shards": 3, "slices": 3, "aggregation": "mean"} and pool.done.all()
    shadow = load_checkpoint(tmp_path / "pool" / "weights" / "m00000.pt", arch="mlp")[0]
    assert isinstance(shadow, SISAModel) and len(shadow.shards) == 3
    res, _ = run_lira(target=sisa["dir"] / "unl.pt", forget=sisa["dir"] / "forget.npy", pool=tmp_path / "pool",
                      write=False)
    assert res["verdict"] != "not unlearned"


def test_bad_input_one_error_line(sisa, tmp_path):
    d = sisa["dir"]
    too_many = write_recipe(tmp_path / "big.toml", shards=700, slices=2)
    assert "some slice would be empty" in error_line(run("train", too_many, "--out", tmp_path / "x.pt"))
    bad_agg = write_recipe(tmp_path / "agg.toml", aggregation="max")
    assert "`aggregation` in" in error_line(run("train", bad_agg, "--out", tmp_path / "x.pt"))
    plain = tmp_path / "plain.toml"
    plain.write_text(sisa_digits_recipe().split("[sisa]")[0] + "[pool]\nn_models = 2\n")
    assert run("train", plain, "--out", tmp_path / "plain.pt", "--threads", 1).exit_code == 0
    line = error_line(run("unlearn", "--method", "sisa", "--model", tmp_path / "plain.pt", "--forget",
                          d / "forget.npy", "--out", tmp_path / "y.pt"))
    assert "is not a SISA model" in line
    line = error_line(run("unlearn", "--method", "ft", "--model", d / "orig.pt", "--forget", d / "forget.npy",
                          "--out", tmp_path / "y.pt"))
    assert "is a SISA model; unlearn it with --method sisa" in line
    line = error_line(run("unlearn", "--method", "sisa", "--model", d / "orig.pt", "--forget", d / "forget.npy",
                          "--out", tmp_path / "y.pt", "--set", "epochs=1"))
    assert "takes no --set" in line
    np.save(tmp_path / "gone.npy", np.array([sisa["forget"][0]]))
    line = error_line(run("unlearn", "--method", "sisa", "--model", d / "unl.pt", "--forget", tmp_path / "gone.npy",
                          "--out", tmp_path / "y.pt"))
    assert "not in the model's training set" in line
    assert not (tmp_path / "y.pt").exists()


def test_compatibility_flags_sisa_against_other_shadows(sisa):
    from muaudit.targets import compat

    meta = read_checkpoint(sisa["dir"] / "orig.pt")[1]
    plain = PoolSpec.from_dict({"model": {"arch": "mlp", "hidden": [16]}})
    same = PoolSpec.from_dict({"model": {"arch": "mlp", "hidden": [16]}, "sisa": {"shards": 3, "slices": 3}})
    other = PoolSpec.from_dict({"model": {"arch": "mlp", "hidden": [16]}, "sisa": {"shards": 5, "slices": 3}})
    for spec, flagged in [(plain, True), (same, False), (other, True)]:
        block, found = compat.recipe_findings(meta, spec)
        assert any("differ in SISA training" in f[1] for f in found) == flagged
        assert any(d.startswith("sisa:") for d in block["differences"]) == flagged


def _rewrite(src, dst, *, meta=None, drop_stage=False):
    """A copy of the SISA checkpoint ``src`` with its meta changed / one stage checkpoint removed."""
    obj = torch.load(src, weights_only=True)
    if meta:
        obj["meta"] = meta(obj["meta"])
    if drop_stage:
        obj["sisa_checkpoints"] = {k: v for k, v in obj["sisa_checkpoints"].items() if not k.startswith("1/2/")}
    torch.save(obj, dst)
    return dst


@pytest.mark.parametrize("change, drop_stage, msg", [
    (lambda m: {**m, "sisa": {**m["sisa"], "shards": 5000}}, False, "`shards` an integer >= 1|in \\[1, 1024\\]"),
    (lambda m: {**m, "sisa": {**m["sisa"], "aggregation": "max"}}, False, "`aggregation` in"),
    (lambda m: {**m, "sisa": "three"}, False, "meta 'sisa' must be a dict"),
    (lambda m: {**m, "sisa": {**m["sisa"], "parts": m["sisa"]["parts"][:2]}}, False, "must be 3 shards x 3 slices"),
    (lambda m: {**m, "train_idx": m["train_idx"][:-1]}, False, "do not cover the training positions"),
    (None, True, "some stage checkpoints are missing"),
])
def test_hostile_sisa_checkpoints_one_error_line(sisa, tmp_path, change, drop_stage, msg):
    bad = _rewrite(sisa["dir"] / "orig.pt", tmp_path / "bad.pt", meta=change, drop_stage=drop_stage)
    np.save(tmp_path / "f.npy", np.array([sisa["parts"][2][0][0]]))
    line = error_line(run("unlearn", "--method", "sisa", "--model", bad, "--forget", tmp_path / "f.npy",
                          "--out", tmp_path / "out.pt"))
    assert __import__("re").search(msg, line), line
    assert not (tmp_path / "out.pt").exists()
