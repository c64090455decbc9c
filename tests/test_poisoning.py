"""Poisoning attacks: GUS against closed forms and its exact null, configs, records, statistics,
and one contract table every attack goes through."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from muaudit.data import load_dataset
from muaudit.errors import ConfigError, MuauditError
from muaudit.poisoning import (PoisonContext, PoisonError, Scores, poison_names, efficacy, efficacy_summary,
                               get_poison, gus, gus_readout, load_record, loss_directions, paired_test, save_record)
from muaudit.audit.decision import decide
from muaudit.poisoning.stats import evidence, power
from muaudit.pool.spec import PoolSpec
from muaudit.training.single import train_on_positions


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


# -- GUS ------------------------------------------------------------------------------------------


def test_gus_matches_closed_form_on_a_linear_model():
    """Softmax regression: grad_x CE = W^T (p - e_y), so I has a closed form."""
    torch.manual_seed(0)
    model = torch.nn.Linear(12, 4).double().float()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 12)).astype(np.float32), rng.integers(0, 4, 50)
    xi = rng.normal(0, 0.5, size=(50, 12))
    I, _ = gus(model, X, y, xi, 0.5)
    W, b = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    p = torch.softmax(torch.as_tensor(X @ W.T + b), 1).numpy()
    g = (p - np.eye(4)[y]) @ W
    expected = np.einsum("nd,nd->n", xi, g) / (0.5 * np.linalg.norm(g, axis=1))
    np.testing.assert_allclose(I, expected, rtol=1e-5, atol=1e-6)


def test_gus_null_is_exactly_standard_normal_when_g_is_independent_of_xi():
    """A fixed tiny model never trained on the noise: I ~ N(0, 1) exactly (4,000 canaries)."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(4000, 8)).astype(np.float32), rng.integers(0, 3, 4000)
    xi = rng.normal(0, 0.3, size=(4000, 8))
    I, fresh = gus(model, X, y, xi, 0.3, fresh=rng.standard_normal((5, 4000, 8)))
    assert stats.kstest(I, "norm").pvalue > 0.05  # measured 0.58 with this seed
    assert abs(np.sqrt(len(I)) * I.mean()) < 3 and abs(I.var() - 1) < 0.06
    assert stats.kstest(fresh.ravel(), "norm").pvalue > 0.05
    r = gus_readout(I, fresh, alpha=0.05)
    assert abs(r["tpr_null"] - 0.05) < 0.015 and abs(r["auc"] - 0.5) < 0.03


def test_loss_directions_survive_saturated_softmax():
    """Where autograd's CE gradient underflows to exactly 0, the direction is still defined and
    equals autograd's wherever that one is not 0."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    X = torch.randn(6, 1, 8, 8)
    X[3:] *= 1e5  # huge logits: p_y == 1 in float32
    y = model(X).argmax(1)
    d = loss_directions(model, X, y)
    Xg = X.clone().requires_grad_()
    (g,) = torch.autograd.grad(F.cross_entropy(model(Xg), y, reduction="sum"), Xg)
    g = g.flatten(1)
    assert (g[3:].norm(dim=1) == 0).all() and (d[3:].norm(dim=1) > 0).all()
    assert torch.allclose(F.cosine_similarity(d[:3], g[:3]), torch.ones(3), atol=1e-5)


def test_gus_readout_detects_a_shift():
    rng = np.random.default_rng(3)
    r = gus_readout(rng.normal(-1, 1, 400), rng.normal(0, 1, (5, 400)), alpha=0.01)
    assert r["z"] < -15 and r["p_value"] < 1e-20 and r["auc"] > 0.7 and r["tpr_null"] > 0.05


# -- configs, registry, records -------------------------------------------------------------------


def test_registry_lists_the_six_attacks():
    assert poison_names() == ["backdoor", "gaussian", "gradient-canceling", "gradient-matching", "interclass", "label-flip"]
    with pytest.raises(ConfigError, match=r"unknown poisoning attack 'nope'; valid: backdoor, gaussian"):
        get_poison("nope")


@pytest.mark.parametrize("name, options, message", [
    ("gaussian", {"fraction": 1.5}, "Expected `fraction` in (0, 1), got 1.5"),
    ("gaussian", {"fraction": 0}, "Expected `fraction` in (0, 1), got 0"),
    ("gaussian", {"eps_p": 0}, "Expected `eps_p` > 0, got 0"),
    ("gaussian", {"eps_p": "big"}, "Expected `eps_p` a number, got 'big'"),
    ("gaussian", {"fresh_draws": 0}, "Expected `fresh_draws` an integer >= 1, got 0"),
    ("backdoor", {"colour": 1}, "unknown option 'colour' for poisoning attack 'backdoor'; valid: fraction, target, patch, value"),
    ("label-flip", {"mode": "swap"}, "Expected `mode` in ('random', 'shift'), got 'swap'"),
    ("interclass", {"class_a": 2, "class_b": 2}, "Expected two different classes, got class_a = class_b = 2"),
    ("gradient-matching", {"eps": -0.1}, "Expected `eps` > 0, got -0.1"),
])
def test_bad_attack_options_are_one_line_errors(name, options, message):
    with pytest.raises(PoisonError) as e:
        get_poison(name).make_config("digits", options)
    assert str(e.value) == message and isinstance(e.value, MuauditError)


def test_dataset_defaults_and_paper_defaults():
    g = get_poison("gaussian")
    assert (g.make_config("cifar10").fraction, g.make_config("cifar10").eps_p) == (0.015, 0.3)
    assert (g.make_config("digits").fraction, g.make_config("digits").eps_p) == (0.05, 1.0)
    assert g.make_config("digits", {"eps_p": 0.3}).eps_p == 0.3


def test_record_round_trip_without_pickles(tmp_path, digits):
    attack = get_poison("gaussian")
    poison = attack.poison(digits, attack.make_config("digits"), 4, PoisonContext())
    path = save_record(tmp_path / "rec.npz", poison)
    header, forget, arrays = load_record(path)
    assert header["attack"] == "gaussian" and header["seed"] == 4 and header["dataset"]["fingerprint"] == digits.fingerprint
    np.testing.assert_array_equal(forget, poison.forget)
    np.testing.assert_array_equal(arrays["xi"], poison.arrays["xi"])
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


# -- statistics -----------------------------------------------------------------------------------


def test_paired_tests():
    assert paired_test([1, 1, 1, 1, 1, 0], [0] * 6)["p_value"] == pytest.approx(1 / 32)
    assert paired_test([0, 1], [0, 1])["p_value"] == 1.0
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 1, 200)
    t = paired_test(a, a - 0.5 + rng.normal(0, 0.1, 200))
    assert t["test"] == "paired t-test" and t["p_value"] < 1e-10
    assert paired_test([2.0, 2.0], [1.0, 1.0])["p_value"] == 0.0  # constant positive differences


def test_efficacy_and_its_spread():
    assert efficacy(1.0, 1.0, 0.0) == 0 and efficacy(1.0, 0.0, 0.0) == 1 and efficacy(1.0, 1.5, 0.0) == -0.5
    assert efficacy(0.3, 0.1, 0.3) is None
    rng = np.random.default_rng(1)
    seeds = [(rng.normal(1, 1, 300), rng.normal(0.5, 1, 300), rng.normal(0, 1, 300)) for _ in range(3)]
    s = efficacy_summary(seeds, n_bootstrap=300)
    assert s["ci"][0] < 0.5 < s["ci"][1] and len(s["per_seed"]) == 3 and s["std"] > 0


def test_underpowered_never_passes():
    weak = {"p_value": 0.4, "difference": 0.01}
    ok, reasons = power(weak, {"z": -0.5, "p_value": 0.3}, alpha=0.05)
    assert not ok and len(reasons) == 2
    gap = {"difference": 1.0}
    small_d = np.r_[np.zeros(50), np.full(50, 0.02)]  # unlearned - retrained, per item: a tight spread
    over = {"p_value": 0.9}
    d = decide(evidence(ok, reasons, {"p_value": 0.9}, over, gap, small_d, alpha=0.05))
    assert d["verdict"] == "inconclusive" and d["reasons"][:2] == reasons
    assert decide(evidence(True, [], {"p_value": 0.9}, over, gap, small_d, alpha=0.05))["verdict"] == \
        "consistent with retraining"
    assert decide(evidence(True, [], {"p_value": 0.001}, over, gap, small_d, alpha=0.05))["verdict"] == "not unlearned"
    assert decide(evidence(True, [], {"p_value": 0.9}, {"p_value": 0.001}, gap, small_d, alpha=0.05))["verdict"] == \
        "over-unlearned"
    wide = np.r_[np.full(5, -3.0), np.full(5, 3.0)]  # ten items that vary wildly: no residual is reachable
    assert decide(evidence(True, [], {"p_value": 0.9}, over, gap, wide, alpha=0.05))["verdict"] == "inconclusive"


# -- contract table: every attack -----------------------------------------------------------------

TINY = {"gaussian": {"fraction": 0.05}, "backdoor": {"fraction": 0.02}, "label-flip": {"fraction": 0.05},
        "interclass": {"fraction": 0.04},
        "gradient-matching": {"fraction": 0.01, "n_targets": 2, "steps": 5, "restarts": 1, "eps": 0.2},
        "gradient-canceling": {"fraction": 0.01, "steps": 5, "ascent_steps": 5}}


@pytest.fixture(scope="module")
def context(digits):
    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [16]},
                               "train": {"optimizer": "adam", "lr": 1e-2, "epochs": 2, "weight_decay": 0}}, name="t")
    make = lambda s: spec.make_model(s, digits.input_shape, digits.n_classes)  # noqa: E731
    return PoisonContext(train=lambda d, pos, s: train_on_positions(make, d, pos, spec.train, s)[0]), make


@pytest.mark.parametrize("name", sorted(TINY))
def test_attack_contract(name, digits, context):
    ctx, make = context
    attack = get_poison(name)
    config = attack.make_config("digits", TINY[name])
    a, b = (attack.poison(digits, config, 5, ctx) for _ in range(2))
    np.testing.assert_array_equal(a.forget, b.forget)  # seeded
    np.testing.assert_array_equal(a.dataset.X, b.dataset.X), np.testing.assert_array_equal(a.dataset.y, b.dataset.y)
    n = len(digits.train_idx)
    assert a.forget.dtype == np.int64 and np.all(np.diff(a.forget) > 0) and 0 <= a.forget[0] and a.forget[-1] < n
    changed = (a.dataset.X != digits.X).reshape(len(digits.X), -1).any(1) | (a.dataset.y != digits.y)
    assert set(np.flatnonzero(changed)) <= set(digits.train_idx[a.forget])  # only poisons change; test split clean
    assert changed[digits.train_idx[a.forget]].mean() > 0.9
    assert len(a.retain) + len(a.forget) == n
    s = attack.score(make(0).eval(), a)
    assert isinstance(s, Scores) and s.values.ndim == 1 and np.isfinite(s.values).all() and len(s.values) > 0
    assert attack.score(make(0).eval(), a).values.tolist() == s.values.tolist()  # deterministic
