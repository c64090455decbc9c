"""Secret query views (issue 20): drawn per audit, scored by the shadows' weights; label-only targets."""

from pathlib import Path

import numpy as np
import pytest
import torch

from muaudit.attacks import ReferenceSignals
from muaudit.attacks.synthetic import synthetic_pool
from muaudit.audit import audit_target
from muaudit.errors import ConfigError, PoolError
from muaudit.jobs.lira import run_lira
from muaudit.jobs.queries import label_signals, outputs_are_labels
from muaudit.models import load_checkpoint
from muaudit.pool import Pool, PoolSpec, build_pool, load_spec
from muaudit.pool.rescore import load_shadows, score_shadows
from muaudit.targets import AuditTarget, InputAdapter
from muaudit.targets.runner import TorchRunner, predict_outputs


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def files(tiny_audit_files):
    return tiny_audit_files  # its pool keeps its shadows' weights (it has an [[unlearn]] entry)


def _audit(files, target=None, **kw):
    return run_lira(target=target or files["checkpoint"], forget=files["forget_file"], pool=files["pool_dir"],
                    write=False, **kw)[0]


@pytest.mark.slow  # measured: 4 s CPU (the fast loop, docs/development.md)
def test_secret_views_vary_per_audit_and_are_recorded_after(files):
    a, b = _audit(files, secret_views=3), _audit(files, secret_views=3)  # same inputs, same random_state
    qa, qb = a["queries"], b["queries"]
    assert qa["kind"] == "secret" and qa["n_views"] == 3 and len(qa["secret_views"]["views"]) == 3
    assert qa["secret_views"]["seed"] != qb["secret_views"]["seed"] and qa["views"] != qb["views"]
    assert "ruled out" in qa["recognition"] and a["config"]["secret_views"] == 3
    assert np.isfinite(a["p_value"]) and a["verdict"]
    known = _audit(files)
    assert known["queries"]["kind"] == "known" and known["queries"]["views"] == ["identity"]
    assert "not ruled out" in known["queries"]["recognition"]
    assert not known["queries"]["labels_only"] and known["attack"] == "lira"  # the model's logits: LiRA


def test_shadow_weights_reproduce_the_stored_logits(files):
    pool = Pool(files["pool_dir"])
    spec = PoolSpec.from_dict(pool.spec)
    X = spec.load_dataset().X[pool.population]
    stored = pool.logits()
    models = load_shadows(pool, spec, X, stored, random_state=np.random.default_rng(0))
    np.testing.assert_allclose(score_shadows(models, X), stored[:, :, 0], atol=1e-5)


def test_pool_without_weights_is_a_clear_error(tiny_recipe, tmp_path, files):
    from click.testing import CliRunner

    from muaudit.cli.main import cli

    build_pool(load_spec(tiny_recipe(n_models=2, epochs=1)), tmp_path / "pool")
    with pytest.raises(PoolError, match=r"has no stored shadow weights: .*save_weights = true"):
        run_lira(target=files["checkpoint"], forget=files["forget_file"], pool=tmp_path / "pool", write=False,
                 secret_views=2)
    args = ["lira", "--target", files["checkpoint"], "--forget", files["forget_file"], "--pool", tmp_path / "pool",
            "--out", tmp_path / "out", "--secret-views"]
    r = CliRunner().invoke(cli, [str(a) for a in args + [2]])
    assert r.exit_code == 2 and r.output.startswith("Error: pool ") and "save_weights = true" in r.output
    assert not (tmp_path / "out").exists()
    r = CliRunner().invoke(cli, [str(a) for a in args + [65]])
    assert r.exit_code == 2 and "Expected `secret_views` an integer in [0, 64], got 65" in r.output


def test_changed_weights_are_refused(files, tmp_path):
    import shutil

    copy = tmp_path / "pool"
    shutil.copytree(files["pool_dir"], copy)
    w = copy / "weights" / "m00001.pt"
    state = torch.load(w, weights_only=True)
    key = next(k for k in state["state_dict"] if k.endswith("weight"))
    state["state_dict"][key] = state["state_dict"][key] + 0.5
    torch.save(state, w)
    with pytest.raises(PoolError, match="shadow 1's weights .* do not give its stored logits"):
        _audit({**files, "pool_dir": copy}, secret_views=2)


def test_logits_files_say_recognition_cannot_be_ruled_out(files, tmp_path):
    from muaudit.training import predict_logits

    model, _ = load_checkpoint(files["checkpoint"])
    spec = PoolSpec.from_dict(Pool(files["pool_dir"]).spec)
    np.save(tmp_path / "z.npy", predict_logits(model, spec.load_dataset().X)[:, 0])
    res = _audit(files, target=tmp_path / "z.npy")
    assert res["queries"]["kind"] == "logits" and "cannot be ruled out" in res["queries"]["recognition"]
    with pytest.raises(ConfigError, match="secret views need a model to query"):
        _audit(files, target=tmp_path / "z.npy", secret_views=2)


class _TopOne:
    """A provider that answers with its model's top-1 label only (one-hot, or labels ``[B]``)."""

    def __init__(self, model, labels=False):
        self.inner, self.labels = TorchRunner(model, torch.device("cpu")), labels

    def __call__(self, x):
        top = self.inner(x).argmax(-1)
        return top if self.labels else np.eye(10, dtype=np.float32)[top]


def test_one_hot_targets_get_the_label_only_attack(files):
    model, meta = load_checkpoint(files["checkpoint"])
    tgt = AuditTarget("torchscript", Path("top1.pt"), runner=_TopOne(model), meta=meta)
    res = _audit(files, target=tgt)
    assert res["queries"]["labels_only"] and "one-hot" in res["queries"]["labels_only_reason"]
    assert res["attack"] == "label-only" and res["config"]["attack"] == "label-only"
    assert np.isfinite(res["p_value"])


def test_label_outputs_become_one_hot():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    X = np.random.default_rng(0).random((9, 1, 8, 8)).astype(np.float32)
    z = predict_outputs(_TopOne(model, labels=True), InputAdapter("nchw"), X, 10)
    assert z.shape == (9, 1, 10) and outputs_are_labels(np.log(np.maximum(z, 1e-30)))
    assert not outputs_are_labels(predict_outputs(TorchRunner(model, torch.device("cpu")), InputAdapter("nchw"), X, 10))


def test_label_only_catches_a_planted_leak():
    """0/1 correctness on 8 queries: IN shadows right 95% of the time, OUT 60%. A target that still
    remembers its forget set is caught; one that never saw it is not."""
    rng = np.random.default_rng(0)
    M, N, K = 32, 600, 8
    keep = synthetic_pool(n_models=M, n_samples=N).keep
    shadows = (rng.random((M, N, K)) < np.where(keep, 0.95, 0.6)[..., None]).astype(float)
    F, NM, R = np.arange(50), np.arange(300, 600), np.arange(50, 300)
    trained = np.arange(N) < 300

    def target(members):
        return (rng.random((N, K)) < np.where(members, 0.95, 0.6)[:, None]).astype(float)

    opts = dict(forget=F, nonmembers=NM, members=R, attack="label-only", recenter=False, n_power_draws=50)
    leaked = audit_target(target(trained), shadows, keep, **opts).results
    assert leaked["verdict"] == "not unlearned" and leaked["auc"] > 0.9
    clean = audit_target(target(trained & (np.arange(N) >= 50)), shadows, keep, **opts).results
    assert clean["verdict"] != "not unlearned" and clean["power_control"]["power"] > 0.9


def test_label_signals_refuse_confidences():
    from muaudit.attacks import LabelOnly
    from muaudit.errors import DataError

    keep = synthetic_pool(n_models=4, n_samples=10).keep
    with pytest.raises(DataError, match="values in \\[0, 1\\]"):
        LabelOnly().fit(ReferenceSignals(np.full((4, 10, 2), 3.0), keep))
    assert label_signals(np.eye(3)[None, :, None], np.array([0, 2, 2])).tolist() == [[[1.0], [0.0], [1.0]]]


def test_bad_secret_view_counts(files):
    with pytest.raises(ConfigError, match="secret_views"):
        _audit(files, secret_views=65)
    with pytest.raises(ConfigError, match="secret_views"):
        _audit(files, secret_views=-1)
