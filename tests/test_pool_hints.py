"""Every command that needs a prepared pool names the packaged recipe that builds one."""

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit import packaged
from muaudit.cli.main import cli
from muaudit.pool import build_pool, load_spec

pytestmark = pytest.mark.usefixtures("one_thread")


def error(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    return r.output.strip()


def test_ulira_on_a_pool_without_unlearned_shadows_names_the_ulira_recipe(tiny_recipe, tmp_path):
    build_pool(load_spec(tiny_recipe(n_models=2, epochs=1)), tmp_path / "pool")
    assert error("ulira", "--pool", tmp_path / "pool", "--method", "ga") == (
        f"Error: pool {tmp_path / 'pool' / 'pool.h5'} has no unlearned shadows (its recipe has no [[unlearn]] "
        "entries); build one with `muaudit pool build digits-mlp-ulira`, or add an [[unlearn]] entry with "
        'method = "ga" to the recipe and resume the build')


def test_a_missing_pool_names_the_recipe_that_builds_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUAUDIT_POOL", raising=False)
    assert error("ulira", "--pool", "nowhere", "--method", "ga") == \
        "Error: no pool at nowhere; build one with `muaudit pool build digits-mlp-ulira --out nowhere`"
    assert error("ulira", "--method", "ga") == \
        "Error: no pool given: pass --pool DIR or set MUAUDIT_POOL; build one with `muaudit pool build digits-mlp-ulira`"
    np.save("forget.npy", np.arange(5))
    np.save("logits.npy", np.zeros((1797, 10), np.float32))
    assert error("lira", "--target", "logits.npy", "--forget", "forget.npy", "--pool", "nowhere") == \
        "Error: no pool at nowhere; build one with `muaudit pool build digits-mlp --out nowhere`"
    assert error("pool", "evaluate", "nowhere") == (
        "Error: no pool at nowhere; build one with `muaudit pool build RECIPE --out nowhere` (RECIPE: a TOML file, "
        f"or a packaged recipe: {', '.join(packaged.names('recipe'))})")
