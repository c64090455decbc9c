"""`muaudit lira --attack qmia` and the class-stratified audit through the CLI, on a tiny pool."""

import json

import numpy as np
import pytest

from tests.helpers_audit import tiny_audit_kit
from tests.kit import run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_audit_base, one_thread):
    d = tmp_path_factory.mktemp("stats")
    _, ds, _ = tiny_audit_kit(tiny_audit_base, d)
    train_y = ds.y[ds.train_idx]
    np.save(d / "class3.npy", np.flatnonzero(train_y == 3)[:60])
    np.save(d / "nm_no3.npy", np.flatnonzero(train_y != 3)[-300:])
    return d


@pytest.mark.slow  # measured: 1.1 s CPU (the fast loop, docs/development.md)
def test_qmia_audit_has_every_key_and_splits_the_non_members(setup):
    d = setup
    r = run("lira", "--target", d / "orig.pt", "--forget", d / "forget.npy", "--pool", d / "pool",
            "--attack", "qmia", "--out", d / "q", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    for key in ("verdict", "auc", "p_value", "power_control", "class_mix", "calibration", "attack_config"):
        assert key in res
    assert res["attack"] == "qmia" and res["n_nonmembers"] == 225 and res["qmia_fit_nonmembers"] == 225
    assert "min_detectable_residual" in res["power_control"]
    z = np.load(d / "q" / "scores.npz")
    assert len(np.intersect1d(z["nonmembers"], z["qmia_fit"])) == 0 and np.isfinite(z["scores"]).all()


def test_class_wise_forget_set_is_stratified(setup):
    d = setup
    r = run("lira", "--target", d / "orig.pt", "--forget", d / "class3.npy", "--pool", d / "pool", "--out", d / "c",
            "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["class_mix"]["stratified"] and "within class strata" in res["test"]


def test_forget_class_without_non_members_is_an_error(setup):
    d = setup
    r = run("lira", "--target", d / "orig.pt", "--forget", d / "class3.npy", "--pool", d / "pool",
            "--nonmembers", d / "nm_no3.npy", "--out", d / "e")
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1].startswith("Error: Expected non-members of every forget class")
    assert not (d / "e" / "results.json").exists()
