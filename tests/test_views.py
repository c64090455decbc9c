"""Query views: names, transforms, pools built and audited on several views."""

import numpy as np
import pytest
import torch

from muaudit.errors import ConfigError
from muaudit.pool import Pool, PoolSpec, build_pool, load_spec
from muaudit.training.predict import predict_logits, predict_many
from muaudit.training.views import apply_view, parse_view, resolve_views, view_names

SHIFTS = ["identity", "shift:1,0", "shift:-1,0", "shift:0,1", "shift:0,-1"]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def test_old_view_counts_mean_the_same():
    assert view_names(1) == ["identity"] and view_names(2) == ["identity", "flip"]
    X = np.random.default_rng(0).random((7, 1, 8, 8)).astype(np.float32)
    m = _model()
    for n in (1, 2):
        assert np.array_equal(predict_logits(m, X, n_views=n), predict_logits(m, X, views=view_names(n)))


def test_whole_pixel_shifts_are_exact():
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    assert apply_view(x, parse_view("shift:1,0")).tolist() == [[[[0, 1, 2], [0, 4, 5], [0, 7, 8]]]]
    assert apply_view(x, parse_view("shift:0,-1")).tolist() == [[[[4, 5, 6], [7, 8, 9], [0, 0, 0]]]]
    assert apply_view(x, parse_view("shift:-1,0:edge")).tolist() == [[[[2, 3, 3], [5, 6, 6], [8, 9, 9]]]]
    half = apply_view(x, parse_view("shift:0.5,0"))
    assert torch.allclose(half, 0.5 * x + 0.5 * apply_view(x, parse_view("shift:1,0")))


def test_views_shape_determinism_and_identity():
    X = np.random.default_rng(1).random((11, 1, 8, 8)).astype(np.float32)
    m = _model()
    z = predict_logits(m, X, views=SHIFTS + ["flip"], batch_size=4)
    assert z.shape == (11, 6, 10) and z.dtype == np.float32
    assert np.array_equal(z, predict_logits(m, X, views=SHIFTS + ["flip"]))
    assert np.array_equal(z[:, 0], predict_logits(m, X)[:, 0])
    assert np.abs(z[:, 1] - z[:, 0]).max() > 1e-3  # a shift is another query
    together = predict_many([m, _model()], X, views=SHIFTS)
    assert np.array_equal(together[0], z[:, :5])


@pytest.mark.parametrize("views, match", [
    (["shift:1,0"], 'start with "identity"'),
    (["identity", "rotate:3"], "Expected a view in"),
    (["identity", "shift:1,0:wrap"], "Expected a view in"),
    (["identity", "shift:1,0", "shift:1,0"], "distinct"),
    (["identity", "shift:20,0"], "at most 8 pixels"),
    (3, "1, 2 or a list"),
    ("identity", "1, 2 or a list"),
])
def test_bad_views_are_errors(views, match):
    with pytest.raises(ConfigError, match=match):
        resolve_views(views)
    with pytest.raises(ConfigError, match=match):
        PoolSpec.from_dict({"pool": {"views": views}})


def test_flat_data_refuses_shifts():
    with pytest.raises(ConfigError, match="flip or shift images"):
        predict_logits(torch.nn.Linear(4, 2), np.zeros((3, 4), np.float32), views=["identity", "shift:1,0"])


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_pool_with_views_builds_and_audits(tiny_recipe, tmp_path):
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train

    recipe = tiny_recipe(n_models=4, epochs=2, extra='views = ["identity", "shift:1,0", "shift:0,-1:edge"]')
    spec = load_spec(recipe)
    assert spec.view_names == ["identity", "shift:1,0", "shift:0,-1:edge"]
    build_pool(spec, tmp_path / "pool")
    pool = Pool(tmp_path / "pool")
    assert pool.logits_shape[2] == 3 and PoolSpec.from_dict(pool.spec).view_names == spec.view_names
    run_train(recipe, tmp_path / "t.pt", random_state=1)
    np.save(tmp_path / "f.npy", np.arange(40))
    res, _ = run_lira(target=tmp_path / "t.pt", forget=tmp_path / "f.npy", pool=tmp_path / "pool", write=False)
    assert res["queries"]["views"] == spec.view_names and res["queries"]["kind"] == "known"
    assert np.isfinite(res["p_value"])
