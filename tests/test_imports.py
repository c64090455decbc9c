"""A command imports only what it uses: the CLI and an audit stay clear of heavy optional libraries."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve

from muaudit.metrics.roc import roc_curve


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_the_cli_registers_every_command_without_heavy_imports():
    heavy = {"sklearn", "pandas", "statsmodels", "matplotlib", "ray"}
    assert loaded_after("import muaudit.cli.main") & heavy == set()


@pytest.mark.slow  # measured: 4.2 s CPU, an audit in a fresh interpreter (the fast loop, docs/development.md)
def test_an_audit_needs_no_pandas_and_draws_figures_without_pyplot():
    mods = loaded_after("from muaudit.metrics import summarize\nimport numpy as np\n"
                        "from muaudit.report.figures import save_audit_figures\nimport tempfile\n"
                        "s = np.random.default_rng(0).normal(size=200); y = np.r_[np.ones(100), np.zeros(100)]\n"
                        "summarize(y, s)\nsave_audit_figures(tempfile.mkdtemp(), {'a': (s, y)}, {'a': s})")
    assert "matplotlib" in mods and not {"pandas", "sklearn"} & mods
    assert "matplotlib.pyplot" not in loaded_after("from muaudit.report.figures import save_audit_figures")


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_equals_scikit_learns(ties):
    rng = np.random.default_rng(3)
    s = rng.normal(size=500)
    if ties:
        s = np.round(s, 1)  # many equal scores
    y = rng.random(500) < 0.3
    for mine, ref in zip(roc_curve(y, s), sk_roc_curve(y, s, drop_intermediate=False)):
        np.testing.assert_allclose(mine, ref)


def test_clopper_pearson_equals_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    from muaudit.metrics import clopper_pearson

    k, n = np.array([0, 1, 5, 37, 99, 100]), np.array([100, 100, 100, 100, 100, 100])
    for level in (0.9, 0.95, 0.99):
        np.testing.assert_allclose(clopper_pearson(k, n, level=level), proportion_confint(k, n, alpha=1 - level, method="beta"), atol=1e-12)
    assert clopper_pearson(3, 10) == pytest.approx(proportion_confint(3, 10, method="beta"))


def test_digits_without_sklearn_equal_sklearns_digits_and_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from muaudit.data import load_dataset

    ds, ref = load_dataset("digits"), load_digits()
    np.testing.assert_array_equal(ds.X.reshape(len(ds.X), -1), (ref.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(ds.y, ref.target)
    _, test = train_test_split(np.arange(len(ref.target)), test_size=0.25, random_state=0, stratify=ref.target)
    np.testing.assert_array_equal(ds.test_idx, np.sort(test))
    assert "sklearn" not in loaded_after("from muaudit.data import load_dataset\nload_dataset('digits')")
