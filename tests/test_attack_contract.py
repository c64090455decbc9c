"""One contract for every registered attack (``ATTACKS``), QMIA and U-LiRA included: the same
``fit(reference)`` / ``score(target)`` shape, with a reference of the attack's family
(its ``Reference``); every preset names a registered attack; every family has one auditor."""

from dataclasses import FrozenInstanceError, asdict

import numpy as np
import pytest

from muaudit.attacks import (ATTACKS, Attack, NonMemberSignals, ReferenceSignals, UnlearningSignals, attack_class,
                             make_attack)
from muaudit.attacks.presets import AUDIT_PRESETS, EVALUATE_PRESETS, PRESETS, make_preset
from muaudit.attacks.synthetic import synthetic_families, synthetic_pool
from muaudit.audit.families import AUDITORS, AuditInputs, UnlearnedShadows, audit_with
from muaudit.errors import ConfigError, DataError

N = 40
pytestmark = pytest.mark.filterwarnings("ignore::muaudit.metrics.StatisticsWarning")  # tiny pools


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread():
    """QMIA's gradient boosting on 20 rows in one OpenMP thread: on shared cores the threads' spin
    waits made one fit take 1.5-4 s instead of 0.12 s (measured)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def shadow_case(signal):
    """Shadow attacks: a pool with 2 views; label-only reads 0/1 correctness."""
    pool = synthetic_pool(n_models=6, n_samples=N, n_views=2, gap=1.0)
    as_signal = (lambda x: (x > 0.0).astype(float)) if signal == "correct" else (lambda x: x)
    return ReferenceSignals(as_signal(pool.phi), pool.keep), as_signal(pool.draw(pool.keep[0]))


def unlearning_case(signal):
    fam = synthetic_families(n_models=6, n_samples=N, leak=1.0)
    return fam.signals("retrain", np.ones(6, bool)), fam.unlearned[0]


def nonmember_case(signal):
    """QMIA: the target's own phi on N inputs, the second half known non-members."""
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(N, 3)), rng.integers(0, 2, N)
    phi = X[:, 0] + rng.normal(0.0, 0.3, N)
    return NonMemberSignals(X, labels, phi, np.arange(N // 2, N), n_classes=2), phi


CASES = {ReferenceSignals: shadow_case, UnlearningSignals: unlearning_case, NonMemberSignals: nonmember_case}


def case(name):
    cls = attack_class(name)
    return CASES[cls.Reference](cls.signal)


def test_every_attack_is_registered():
    assert ATTACKS.names() == ["label-only", "lira", "loss", "qmia", "rmia", "ulira"]
    assert {attack_class(n).Reference for n in ATTACKS.names()} == set(CASES) == set(AUDITORS)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_contract(name):
    ref, target = case(name)
    attack = make_attack(name)
    assert isinstance(attack, Attack) and attack.name == name and isinstance(asdict(attack.config), dict)
    assert type(attack).Reference is type(ref) and attack.signal in ("phi", "correct")
    with pytest.raises(FrozenInstanceError):
        attack.config.__setattr__("x", 1)
    with pytest.raises(ConfigError, match="not fitted"):
        attack.score(target)
    assert attack.fit(ref) is attack
    scores = attack.score(target)
    assert scores.shape == (N,) and scores.dtype == np.float64 and np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, make_attack(name).fit(ref).score(target))  # deterministic
    clone = attack.clone()
    assert clone.config == attack.config and not [k for k in vars(clone) if k.endswith("_")]  # unfitted
    with pytest.raises(ConfigError, match=f"unknown option 'bogus' for attack '{name}'"):
        make_attack(name, bogus=1)
    if name != "loss":  # LOSS reads no reference: any N
        with pytest.raises(DataError, match="Expected target signals of shape"):
            attack.score(target[:-1])
    for other, build in CASES.items():  # a reference of another family is refused by name
        if other is not type(ref):
            with pytest.raises(DataError, match=f"fit expects {type(ref).__name__}, got {other.__name__}"):
                make_attack(name).fit(build("phi")[0])


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_makes_its_registered_attack(preset):
    attack = make_preset(preset, tuple(PRESETS))
    assert attack.name == PRESETS[preset][0] and asdict(attack.config).items() >= PRESETS[preset][1].items()
    assert set(AUDIT_PRESETS) | set(EVALUATE_PRESETS) <= set(PRESETS)


def test_presets_outside_their_list_are_refused():
    with pytest.raises(ConfigError, match=r"Expected `attack` in \('online', 'offline', 'rmia', 'loss'\), got 'qmia'"):
        make_preset("qmia")  # the evaluation runs leave-one-out over shadows: QMIA has none
    assert make_preset("qmia", AUDIT_PRESETS).name == "qmia"


def test_audit_with_dispatches_by_family():
    """One call for every family; each result is its own attack's."""
    n = 80  # QMIA needs 20 non-members to fit and 20 to test
    pool = synthetic_pool(n_models=8, n_samples=n, gap=2.0)
    fam = synthetic_families(n_models=8, n_samples=n, leak=2.0)
    rng = np.random.default_rng(1)
    target = pool.draw(np.arange(n) < 30)
    inputs = AuditInputs(target, {"phi": pool.phi, "correct": (pool.phi > 0).astype(float)}, pool.keep,
                         rng.integers(0, 2, n), forget=np.arange(10), nonmembers=np.arange(30, n),
                         members=np.arange(10, 30), inputs=lambda: rng.normal(size=(n, 3)), n_classes=2)
    opts = {"n_power_draws": 20, "n_bootstrap": 50}
    lira = audit_with("lira", inputs, options={"mode": "offline"}, **opts)
    assert lira.results["attack"] == "lira" and lira.results["attack_config"]["mode"] == "offline"
    with_unl = AuditInputs(**{**vars(inputs), "unlearned": UnlearnedShadows(fam.unlearned, fam.forget, "ft")})
    ulira = audit_with("ulira", with_unl, **opts)
    assert ulira.results["attack"] == "ulira" and ulira.results["method"] == "ft"
    assert ulira.results["attack_config"]["reference"] == "out"
    qmia = audit_with("qmia", inputs, **opts)
    assert qmia.results["attack"] == "qmia" and qmia.results["qmia_fit_nonmembers"] == 25
    assert np.intersect1d(qmia.arrays["qmia_fit"], qmia.arrays["nonmembers"]).size == 0
    seen = []
    label_only = audit_with("label-only", AuditInputs(**{**vars(inputs), "target": (target > 0).astype(float)}),
                            on_scores=seen.append, **opts)
    assert label_only.results["calibration"]["offset"] == 0.0  # 0/1 correctness: not recentered
    assert len(seen) == 1 and seen[0].shape == (n,)
    with pytest.raises(ConfigError, match="unknown attack 'nope'"):
        audit_with("nope", inputs)
