"""`muaudit lira` / `muaudit report` on a tiny pool: outputs and every bad input's exact Error line."""

import json

import numpy as np
import pytest
import torch

from tests.helpers_audit import tiny_audit_kit
from muaudit.pool import build_pool, load_spec
from tests.kit import error_line, run


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_audit_base):
    d = tmp_path_factory.mktemp("audit")
    spec, _, model = tiny_audit_kit(tiny_audit_base, d)
    torch.save(model.state_dict(), d / "raw.pt")
    return d, spec, model


def test_lira_writes_results_folder(setup):
    d, _, _ = setup
    r = run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--pool", d / "pool", "--out", d / "res", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    for key in ("verdict", "auc", "auc_ci", "balanced_accuracy", "tpr_at_fpr", "p_value", "epsilon_lower_bound",
                "power_control", "n_forget", "n_nonmembers", "config", "inputs"):
        assert key in res
    assert set(res["tpr_at_fpr"]) == {"0.001", "0.01", "0.1"}
    assert res["n_forget"] == 68 and res["n_nonmembers"] == 450 and res["power_control"]["n_pos"] == 1347 - 68
    assert res["verdict"] in ("not unlearned", "consistent with retraining", "inconclusive")
    for f in ("results.json", "scores.npz", "roc.png", "roc_loglog.png", "scores_hist.png"):
        assert (d / "res" / f).is_file()
    z = np.load(d / "res" / "scores.npz")
    assert np.isfinite(z["scores"]).all() and len(z["scores"]) == 1797
    r = run("report", d / "res", "--html")
    assert r.exit_code == 0 and "HTML report:" in r.output
    page = (d / "res" / "report.html").read_text()
    assert "data:image/png;base64," in page and res["verdict"] in page


@pytest.mark.slow  # measured: 5 s CPU (the fast loop, docs/development.md)
def test_raw_state_dict_and_logits_targets_give_the_same_scores(setup):
    d, spec, model = setup
    from muaudit.training import predict_logits

    np.save(d / "logits.npy", predict_logits(model, spec.load_dataset().X)[:, 0])
    outs = {}
    for name in ("orig.pt", "raw.pt", "logits.npy"):
        r = run("lira", "--target", d / name, "--forget", d / "forget.npy", "--pool", d / "pool", "--out", d / f"r-{name}")
        assert r.exit_code == 0, r.output
        outs[name] = np.load(d / f"r-{name}" / "scores.npz")["scores"]
    np.testing.assert_allclose(outs["raw.pt"], outs["orig.pt"], atol=1e-4)
    np.testing.assert_allclose(outs["logits.npy"], outs["orig.pt"], atol=1e-4)


@pytest.mark.slow  # measured: 1.1 s CPU (the fast loop, docs/development.md)
def test_pool_from_environment_and_missing_pool(setup, tmp_path, monkeypatch):
    d, _, _ = setup
    r = run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--out", d / "r-env", env={"MUAUDIT_POOL": str(d / "pool")})
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUAUDIT_POOL", raising=False)
    assert error_line(run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy")) == \
        "Error: no pool given: pass --pool DIR or set MUAUDIT_POOL; build one with `muaudit pool build digits-mlp`"
    (tmp_path / "shadow_models" / "a").mkdir(parents=True)
    (tmp_path / "shadow_models" / "a" / "pool.h5").write_bytes(b"")
    assert error_line(run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy")) == \
        "Error: no pool given: pass --pool DIR or set MUAUDIT_POOL; pools found: shadow_models/a"


def test_bad_targets(setup, tmp_path):
    d, spec, model = setup
    base = ["lira", "--forget", d / "forget.npy", "--pool", d / "pool", "--target"]
    assert error_line(run(*base, tmp_path / "none.pt")) == f"Error: target {tmp_path / 'none.pt'} does not exist"
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert error_line(run(*base, tmp_path / "junk.pt")).startswith(f"Error: {tmp_path / 'junk.pt'} is not a PyTorch file")
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["1.weight"] = torch.zeros(3, 3)
    bad_shape = tmp_path / "shape.pt"
    torch.save(sd, bad_shape)
    assert error_line(run(*base, bad_shape)) == (f"Error: {bad_shape} does not fit the architecture (mis-shaped keys: 1.weight (3, 3) != (16, 64)); it was "
                                                 "built as the pool's architecture 'mlp': pass --arch with the target's own")
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["1.weight"][0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pt")
    assert error_line(run(*base, tmp_path / "nan.pt")) == f"Error: {tmp_path / 'nan.pt'}: weight '1.weight' contains NaN or inf"
    np.save(tmp_path / "l.npy", np.zeros((10, 10), np.float32))
    assert error_line(run(*base, tmp_path / "l.npy")).startswith(f"Error: logits file {tmp_path / 'l.npy'} has shape (10, 1, 10)")
    nan = np.zeros((1797, 10), np.float32)
    nan[3, 3] = np.nan
    np.save(tmp_path / "n.npy", nan)
    assert error_line(run(*base, tmp_path / "n.npy")) == f"Error: logits file {tmp_path / 'n.npy'} contains NaN or inf"


def test_bad_forget_and_pool(setup, tmp_path):
    d, _, _ = setup
    np.save(tmp_path / "f.npy", np.array([0.5]))
    assert error_line(run("lira", "--target", d / "orig.pt", "--forget", tmp_path / "f.npy", "--pool", d / "pool")) == \
        f"Error: forget file {tmp_path / 'f.npy'} holds float64 values (first: 0.5 at position 0); expected integer positions"
    assert error_line(run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--pool", tmp_path)).startswith(
        f"Error: no pool at {tmp_path}")
    spec = load_spec(d / "tiny.toml")
    build_pool(spec, tmp_path / "half", shard=(0, 2))
    (tmp_path / "half" / "shard-0-of-2.h5").rename(tmp_path / "half" / "pool.h5")
    assert error_line(run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--pool", tmp_path / "half")) == \
        f"Error: pool {tmp_path / 'half' / 'pool.h5'} is unfinished (2/4 models done); resume with `muaudit pool build RECIPE --out {tmp_path / 'half'}`"


def test_target_from_other_data(setup, tmp_path):
    d, _, model = setup
    from muaudit.models import read_checkpoint

    state, meta = read_checkpoint(d / "orig.pt")
    torch.save({"state_dict": state, "meta": {**meta, "dataset_fingerprint": "ab" * 32}}, tmp_path / "other.pt")
    assert error_line(run("lira", "--target", tmp_path / "other.pt", "--forget", d / "forget.npy", "--pool", d / "pool")).startswith(
        f"Error: target {tmp_path / 'other.pt'} was trained on other data (fingerprint abababababab != pool's")


def test_report_on_non_results_folder(tmp_path):
    assert error_line(run("report", tmp_path)) == f"Error: {tmp_path} is not a muaudit results folder (no results.json)"


def test_mia_and_pool_evaluate(setup):
    d, _, _ = setup
    r = run("mia", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--out", d / "mia", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    pm = res["population_mia"]
    assert 0 <= pm["indiscernibility"] <= 1 and 0 <= pm["svc_mia_efficacy"] <= 1
    assert res["verdict"] in ("not unlearned", "consistent with retraining", "inconclusive")
    assert res["power_control"]["n_pos"] == 1347 - 68 and res["n_nonmembers"] == 450
    r = run("pool", "evaluate", d / "pool", "--json", "--targets", "2")
    assert r.exit_code == 0, r.output
    ev = json.loads(r.output)
    assert ev["n_pos"] + ev["n_neg"] == 2 * 1797 and 0 <= ev["auc"] <= 1


def test_mia_without_dataset_meta_needs_a_pool(setup, tmp_path, monkeypatch):
    d, _, _ = setup
    monkeypatch.delenv("MUAUDIT_POOL", raising=False)
    assert error_line(run("mia", "--target", d / "raw.pt", "--forget", d / "forget.npy")) == \
        f"Error: {d / 'raw.pt'} is a raw state_dict; pass --arch (or use a pool whose arch fits)"
    np.save(tmp_path / "l.npy", np.zeros((1797, 10), np.float32))
    assert error_line(run("mia", "--target", tmp_path / "l.npy", "--forget", d / "forget.npy")) == \
        f"Error: {tmp_path / 'l.npy'} carries no dataset meta; pass --pool (or set MUAUDIT_POOL) to name the data"
