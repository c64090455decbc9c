"""``muaudit pool plan``: the residual curve, its fit, and the shadows a pass needs."""

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.attacks import ReferenceSignals
from muaudit.attacks.synthetic import synthetic_pool
from muaudit.audit.plan import fit_curve, plan_shadows, shadows_needed
from muaudit.cli.main import cli
from muaudit.errors import DataError


def test_fit_recovers_a_planted_curve():
    m = np.array([8, 16, 32, 64])
    a, b = fit_curve(m, 0.25 + 1.5 / np.sqrt(m))
    assert a == pytest.approx(0.25) and b == pytest.approx(1.5)
    assert shadows_needed(a, b, 0.4) == 100 and shadows_needed(a, b, 0.2) is None


def test_more_shadows_never_predicted_worse_and_a_larger_set_needs_fewer():
    pool = synthetic_pool(n_models=24, n_samples=600, gap=1.0, random_state=1)
    ref = ReferenceSignals(pool.phi, pool.keep)
    small = plan_shadows(ref, forget_size=20, n_nonmembers=200, n_targets=3, n_draws=40)
    large = plan_shadows(ref, forget_size=80, n_nonmembers=200, n_targets=3, n_draws=40)
    assert small["fit"]["b"] >= 0
    assert large["residual_now"] <= small["residual_now"] + 1e-9
    assert large["curve"][23] is not None


def test_bad_plans_are_one_error():
    pool = synthetic_pool(n_models=8, n_samples=100)
    with pytest.raises(DataError, match="Expected --forget-size at most"):
        plan_shadows(ReferenceSignals(pool.phi, pool.keep), forget_size=500, n_nonmembers=20)
    with pytest.raises(DataError, match="at least 3 shadows"):
        plan_shadows(ReferenceSignals(pool.phi[:2], pool.keep[:2]), forget_size=5, n_nonmembers=20)


def test_cli_plan(tiny_audit_files):
    tiny_pool_dir = tiny_audit_files["pool_dir"]
    result = CliRunner().invoke(cli, ["pool", "plan", str(tiny_pool_dir), "--forget-size", "20", "--targets", "2"])
    assert result.exit_code == 0, result.output
    assert "minimum detectable residual by shadows used" in result.output
    bad = CliRunner().invoke(cli, ["pool", "plan", str(tiny_pool_dir), "--forget-size", "0"])
    assert bad.exit_code == 2 and "Error:" in bad.output
