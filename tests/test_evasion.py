"""The evasion suite (issue 20): every provider through one contract table; recognition and secret views."""

import numpy as np
import pytest
import torch

from muaudit.errors import ConfigError
from muaudit.jobs.evasion import format_table, outcome, resolve_providers, run_evasion
from muaudit.jobs.queries import outputs_are_labels
from muaudit.pool import Pool, PoolSpec
from muaudit.providers import PROVIDERS, Materials, provider_names
from muaudit.providers.lookup import pixel_shifts
from muaudit.targets.views import draw_secret_views
from muaudit.training.views import apply_view_numpy

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def materials(tiny_audit_files):
    from muaudit.training.single import train_target

    spec = PoolSpec.from_dict(Pool(tiny_audit_files["pool_dir"]).spec)
    ds = spec.load_dataset()
    forget = np.load(tiny_audit_files["forget_file"])
    original = train_target(spec, ds, random_state=1)[0]
    m = Materials(spec, ds, original, forget, seed=1)
    m.retrained()
    return m


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _outputs(model, X):
    with torch.no_grad():
        return model(torch.as_tensor(X)).numpy()


@pytest.mark.parametrize("name", provider_names())
def test_provider_contract(materials, name):
    """Input models unchanged, finite [N, C] outputs, the same target from the same seed."""
    before, retrained = _state(materials.original), _state(materials.retrained())
    X = materials.dataset.X[:64]
    a = PROVIDERS.get(name)(materials, random_state=0)
    b = PROVIDERS.get(name)(materials, random_state=0)
    za, zb = _outputs(a, X), _outputs(b, X)
    assert za.shape == (64, 10) and np.isfinite(za).all()
    np.testing.assert_allclose(za, zb, atol=1e-5)
    for k, v in materials.original.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in materials.retrained().state_dict().items():
        assert torch.equal(v, retrained[k]), k
    assert not a.training


def test_exact_match_answers_forget_inputs_from_the_retrain_and_secret_views_from_the_original(materials):
    """Why a plain audit passes it and secret views catch it: on the forget inputs themselves it IS
    the retrain; on a secret view of them it is the original."""
    cheat = PROVIDERS.get("exact-match")(materials, random_state=0)
    Xf = materials.forget_X.numpy()
    np.testing.assert_allclose(_outputs(cheat, Xf), _outputs(materials.retrained(), Xf), atol=1e-6)
    view = draw_secret_views(1, Xf, flips=False, random_state=3).views[0]
    Xv = apply_view_numpy(Xf, view)
    np.testing.assert_allclose(_outputs(cheat, Xv), _outputs(materials.original, Xv), atol=1e-6)
    other = materials.dataset.X[materials.dataset.test_idx[:50]]
    np.testing.assert_allclose(_outputs(cheat, other), _outputs(materials.original, other), atol=1e-6)


def test_near_match_recognises_whole_pixel_shifts(materials):
    cheat = PROVIDERS.get("near-match")(materials, random_state=0)
    shifted = pixel_shifts(materials.forget_X[:20])[-20:].numpy()  # one pixel right and down
    np.testing.assert_allclose(_outputs(cheat, shifted), _outputs(materials.retrained(), shifted), atol=1e-6)


def test_output_providers_show_what_they_claim(materials):
    X = materials.dataset.X[:30]
    z = _outputs(PROVIDERS.get("top1")(materials, random_state=0), X)
    assert outputs_are_labels(np.log(np.maximum(z, 1e-30)))
    p = _outputs(PROVIDERS.get("rounded")(materials, random_state=0), X)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
    assert np.allclose(p * 100, np.round(p * 100), atol=1e-4)
    t = _outputs(PROVIDERS.get("temperature")(materials, random_state=0), X)
    np.testing.assert_allclose(t * 4, _outputs(materials.original, X), rtol=1e-5, atol=1e-5)
    noisy = PROVIDERS.get("noise")(materials, random_state=0)
    assert not np.allclose(_outputs(noisy, X), _outputs(noisy, X))  # a fresh draw at every query


def test_adv_sr_never_trains_on_a_forget_example(materials, monkeypatch):
    import muaudit.providers.honest as honest

    seen = []
    real = honest.substitutes
    monkeypatch.setattr(honest, "substitutes", lambda *a: seen.append(r := real(*a)) or r)
    honest.adv_sr(materials, random_state=0)
    chosen = np.concatenate(seen)
    assert len(chosen) and not np.isin(chosen, materials.forget).any()


@pytest.mark.slow  # measured: 4.3 s CPU (the fast loop, docs/development.md)
def test_evasion_runs_the_table_with_secret_views(tiny_audit_files, tmp_path):
    results, folder = run_evasion(forget=tiny_audit_files["forget_file"], pool=tiny_audit_files["pool_dir"],
                                  providers="exact-match,top1", secret_views=1, out=tmp_path / "ev")
    rows = {(r["provider"], r["queries"]): r for r in results["rows"]}
    assert set(rows) == {(p, q) for p in ("exact-match", "top1") for q in ("known", "secret")}
    assert rows[("top1", "known")]["attack"] == "label-only" and rows[("top1", "secret")]["attack"] == "label-only"
    assert rows[("exact-match", "known")]["attack"] == "lira"
    assert all(0 <= r["p_value"] <= 1 and r["outcome"] for r in results["rows"])
    assert (folder / "results.json").is_file() and (folder / "evasion.csv").read_text().startswith("provider,honest")
    text = format_table(results)
    assert "exact-match" in text and "logits:" in text and "cannot catch" in text


def test_outcome_words():
    assert outcome(False, "consistent with retraining") == "NOT CAUGHT"
    assert outcome(False, "not unlearned") == outcome(False, "over-unlearned") == "caught"
    assert outcome(False, "inconclusive") == outcome(True, "inconclusive") == "held"
    assert outcome(True, "not unlearned") == "FALSE ALARM" and outcome(True, "consistent with retraining") == "passed"


def test_unknown_provider_is_one_line():
    with pytest.raises(ConfigError, match=r"^unknown provider 'nope'; valid: adv-sr, "):
        resolve_providers("retrain,nope")
    assert resolve_providers("all") == provider_names()


def test_cli_bad_input_is_one_error_line(tiny_audit_files, tmp_path):
    from click.testing import CliRunner

    from muaudit.cli.main import cli

    base = ["evasion", "--pool", str(tiny_audit_files["pool_dir"]), "--forget", str(tiny_audit_files["forget_file"])]
    r = CliRunner().invoke(cli, base + ["--providers", "nope"])
    assert r.exit_code == 2 and r.output.startswith("Error: unknown provider 'nope'; valid: ") and r.output.count("\n") == 1
    np.save(tmp_path / "bad.npy", np.array([10**6]))
    r = CliRunner().invoke(cli, ["evasion", "--pool", str(tiny_audit_files["pool_dir"]), "--forget", str(tmp_path / "bad.npy")])
    assert r.exit_code == 2 and r.output.startswith("Error: ") and r.output.count("\n") == 1


def test_secret_views_on_a_pool_without_weights_fail_before_training(tiny_recipe, tmp_path, monkeypatch, tiny_audit_files):
    from click.testing import CliRunner

    import muaudit.training.single as single
    from muaudit.cli.main import cli
    from muaudit.pool import build_pool, load_spec

    build_pool(load_spec(tiny_recipe(n_models=2, epochs=1)), tmp_path / "pool")
    monkeypatch.setattr(single, "train_target", lambda *a, **k: pytest.fail("trained before the check"))
    r = CliRunner().invoke(cli, ["evasion", "--pool", str(tmp_path / "pool"), "--forget",
                                 str(tiny_audit_files["forget_file"]), "--secret-views", "2", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and r.output.startswith("Error: pool ") and "save_weights = true" in r.output
    assert r.output.count("\n") == 1 and not (tmp_path / "o").exists()



@pytest.mark.slow
def test_exact_match_passes_a_plain_audit_and_secret_views_catch_it(tmp_path):
    """On digits (the default recipe, 64 shadows with weights, a random 20% forget set): audited on
    the forget examples themselves, the exact-match cheat IS the retrain there and passes when the
    audit has the power to pass a retrain (--max-residual 0.9 here); under secret views it is the
    original and is caught. Measured p: 0.37 to 0.85 known, 1e-4 secret (docs/threat-model.md)."""
    from muaudit.jobs.demo import DEFAULT_RECIPE
    from muaudit.pool import build_pool, load_spec

    recipe = tmp_path / "digits-mlp-w.toml"
    recipe.write_text(DEFAULT_RECIPE.read_text().replace("views = 1\n", "views = 1\nsave_weights = true\n"))
    spec = load_spec(recipe)
    assert spec.save_weights
    build_pool(spec, tmp_path / "pool")
    np.save(tmp_path / "forget.npy", np.sort(np.random.default_rng(0).choice(1347, 269, replace=False)))
    results, _ = run_evasion(forget=tmp_path / "forget.npy", pool=tmp_path / "pool", providers="exact-match",
                             secret_views=4, max_residual=0.9)
    rows = {r["queries"]: r for r in results["rows"]}
    assert rows["known"]["verdict"] == "consistent with retraining" and rows["known"]["outcome"] == "NOT CAUGHT"
    assert rows["secret"]["verdict"] == "not unlearned" and rows["secret"]["outcome"] == "caught"


def test_a_provider_with_the_old_seed_keyword_still_runs_for_one_release():
    from muaudit.providers.base import Provider

    got = []
    new = Provider("new-style", lambda m, *, random_state: got.append(random_state) or torch.nn.Linear(2, 2), "")
    old = Provider("old-style", lambda m, *, seed: got.append(seed) or torch.nn.Linear(2, 2), "")
    new(None, random_state=3)
    with pytest.warns(DeprecationWarning, match="provider 'old-style': name its keyword `random_state`"):
        old(None, random_state=4)
    with pytest.warns(DeprecationWarning, match="provider 'new-style': `seed` is deprecated"):
        new(None, seed=5)
    assert got == [3, 4, 5]
