"""Behaviour of each method on digits: checks that fail when the method does something else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.pool.spec import PoolSpec
from muaudit.training.single import train_target
from muaudit.unlearning import UnlearnData, accuracy, run_unlearning


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


def _train(model: dict, epochs: int, lr: float):
    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": model,
                               "train": {"optimizer": "adam", "lr": lr, "epochs": epochs, "weight_decay": 0,
                                         "batch_size": 64}}, name="t")
    ds = spec.load_dataset()
    n = len(ds.train_idx)
    forget_pos = np.sort(np.random.default_rng(0).choice(n, n // 10, replace=False))
    model, meta = train_target(spec, ds, random_state=0)
    rows, retain_pos = ds.train_idx, np.setdiff1d(np.arange(n), forget_pos)
    test = UnlearnData(ds.X[ds.test_idx], ds.y[ds.test_idx])
    forget = UnlearnData(ds.X[rows[forget_pos]], ds.y[rows[forget_pos]])
    retain = UnlearnData(ds.X[rows[retain_pos]], ds.y[rows[retain_pos]], val=test)
    return model, meta, forget, retain, test


@pytest.fixture(scope="module")
def mlp():
    """Digits MLP(128), Adam 30 epochs: ~0.98 train / ~0.96 test accuracy; forget = 10 % of train."""
    return _train({"arch": "mlp", "hidden": [128]}, 30, 1e-3)


@pytest.fixture(scope="module")
def cnn():
    return _train({"arch": "cnn", "channels": [4, 8], "hidden": 16}, 4, 3e-3)


def run(name, setup, seed=0, **config):
    model, meta, forget, retain, _ = setup
    return run_unlearning(name, model, forget, retain, config=config, random_state=seed, meta=meta).model


def loss(model, data):
    with torch.no_grad():
        return float(F.cross_entropy(model(data.X), data.y))


def entropy(model, data):
    with torch.no_grad():
        p = F.softmax(model(data.X), 1)
    return float(-(p * p.clamp(min=1e-12).log()).sum(1).mean())


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.detach() != b.detach()


# -- reference points -------------------------------------------------------------------------------


def test_original_is_unchanged(mlp):
    out = run("original", mlp)
    assert all(torch.equal(p, q) for p, q in zip(out.parameters(), mlp[0].parameters()))


def test_retrain_forget_accuracy_is_close_to_test_accuracy(mlp):
    model, meta, forget, retain, test = mlp
    out = run("retrain", mlp)
    assert accuracy(model, forget) > 0.97  # the original has seen the forget set ...
    assert abs(accuracy(out, forget) - accuracy(out, test)) < 0.04  # ... the retrained model has not
    assert accuracy(out, test) > 0.93


# -- fine-tuning family -----------------------------------------------------------------------------


def test_ft_keeps_test_accuracy(mlp):
    model, _, _, retain, test = mlp
    out = run("ft", mlp)
    assert accuracy(out, test) >= accuracy(model, test) - 0.02 and accuracy(out, retain) > 0.97


def test_ngd_without_noise_is_gd_and_with_noise_is_not(mlp):
    gd, ngd0, ngd = run("gd", mlp), run("ngd", mlp, noise_var=0.0), run("ngd", mlp, noise_var=1e-4)
    assert all(torch.equal(p, q) for p, q in zip(gd.parameters(), ngd0.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(gd.parameters(), ngd.parameters()))
    assert accuracy(gd, mlp[4]) > 0.94


def test_ga_raises_forget_loss(mlp):
    model, _, forget, _, _ = mlp
    assert loss(run("ga", mlp), forget) > 1.1 * loss(model, forget)
    assert loss(run("ga", mlp, epochs=20), forget) > loss(run("ga", mlp), forget)


def test_ng_plus_trades_retain_against_forget_loss(mlp):
    model, _, forget, retain, _ = mlp
    default, strong = run("ng+", mlp), run("ng+", mlp, alpha=0.5)
    assert accuracy(default, retain) >= accuracy(model, retain) - 0.01
    assert loss(strong, forget) > 2 * loss(model, forget) > 2 * loss(default, forget) - 0.05


def test_srl_confuses_the_forget_set_but_keeps_retain(mlp):
    model, _, forget, retain, _ = mlp
    out = run("srl", mlp)
    assert loss(out, forget) > 1.5 * loss(model, forget) and entropy(out, forget) > 2 * entropy(model, forget)
    assert accuracy(out, retain) > 0.95


def test_salun_only_updates_masked_parameters(mlp):
    model, _, forget, _, _ = mlp
    model.train()
    grads = torch.autograd.grad(-F.cross_entropy(model(forget.X), forget.y), list(model.parameters()))
    model.eval()
    flat = torch.cat([g.abs().flatten() for g in grads])
    cut = torch.topk(flat, len(flat) // 2).values.min()
    out = run("salun", mlp, epochs=2)
    moved = [changed(p, q) for p, q in zip(out.parameters(), model.parameters())]
    assert sum(int(m.sum()) for m in moved) > 0.2 * len(flat)
    assert all(bool((g.abs()[m] >= cut).all()) for g, m in zip(grads, moved))
    none = run("salun", mlp, epochs=2, threshold=0.0)
    assert all(torch.equal(p, q) for p, q in zip(none.parameters(), model.parameters()))


def test_cf_k_trains_only_the_last_blocks(cnn):
    model = cnn[0]
    out = run("cf-k", cnn, k=1)
    convs = [i for i, m in enumerate(model) if isinstance(m, nn.Conv2d)]
    linears = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    assert all(torch.equal(out[i].weight, model[i].weight) for i in convs)
    assert all(not torch.equal(out[i].weight, model[i].weight) for i in linears)
    out2 = run("cf-k", cnn, k=2)
    assert not torch.equal(out2[convs[1]].weight, model[convs[1]].weight)
    assert torch.equal(out2[convs[0]].weight, model[convs[0]].weight)


def test_eu_k_reinitialises_the_last_blocks(cnn):
    model = cnn[0]
    fresh = run("eu-k", cnn, k=1, epochs=0)
    head, hidden = fresh[-1], fresh[-3]
    assert torch.all(head.bias == 0) and torch.all(hidden.bias == 0)
    bound = (6 / sum(head.weight.shape)) ** 0.5  # xavier_uniform
    assert head.weight.abs().max() <= bound and not torch.equal(head.weight, model[-1].weight)
    assert all(torch.equal(fresh[i].weight, model[i].weight) for i in (0, 3))
    trained = run("eu-k", cnn, k=1)
    assert loss(trained, cnn[3]) < loss(fresh, cnn[3]) and torch.equal(trained[0].weight, model[0].weight)


# -- re-initialise / perturb --------------------------------------------------------------------------


def test_ct_transposes_conv_kernels(cnn):
    model = cnn[0]
    out = run("ct", cnn, epochs=0)
    for a, b in zip(out, model):
        if isinstance(a, nn.Conv2d):
            assert torch.equal(a.weight, b.weight.transpose(2, 3)) and torch.equal(a.bias, b.bias)
        elif isinstance(a, nn.Linear):
            assert torch.equal(a.weight, b.weight)


def test_ct_transposes_the_first_linear_of_an_mlp_as_images(mlp):
    model = mlp[0]
    out = run("ct", mlp, epochs=0)
    w = model[1].weight.view(-1, 1, 8, 8)
    assert torch.equal(out[1].weight, w.transpose(2, 3).reshape(len(w), 64))
    assert torch.equal(out[3].weight, model[3].weight)


def test_msg_reinitialises_the_smallest_gradient_fraction_of_conv_weights(cnn):
    model, meta, forget, retain, _ = cnn
    forget, retain = forget.subset(range(64)), retain.subset(range(64))  # one batch each: order-free sums
    model.train()
    loss_sum = F.cross_entropy(model(retain.X), retain.y) - F.cross_entropy(model(forget.X), forget.y)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    grads = torch.autograd.grad(loss_sum, [c.weight for c in convs])
    model.eval()
    out = run_unlearning("msg", model, forget, retain, config={"epochs": 0}).model
    new = [m for m in out if isinstance(m, nn.Conv2d)]
    for old, fresh, g in zip(convs, new, grads):
        moved = changed(fresh.weight, old.weight)
        assert int(moved.sum()) == round(0.3 * old.weight.numel())
        assert g.abs()[moved].max() <= g.abs()[~moved].min()
        assert torch.equal(fresh.bias, old.bias)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(out, model) if isinstance(a, nn.Linear))


def test_msg_finetune_scales_kept_weight_gradients(cnn):
    out = run("msg", cnn, epochs=1)
    assert accuracy(out, cnn[3]) > 0.5


def test_cfw_perturbs_only_the_stem(cnn):
    model = cnn[0]
    out = run("cfw", cnn, epochs=0)
    delta = out[0].weight - model[0].weight
    assert 0.45 < float(delta.detach().std()) < 0.75 and torch.equal(out[0].bias, model[0].bias)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(list(out)[1:], list(model)[1:]) if hasattr(a, "weight"))


def test_prmq_keeps_one_percent_and_rounds_through_fp16(mlp):
    model = mlp[0]
    out = run("prmq", mlp, seed=1, epochs=0.0)  # seed 1: seed 0 would redraw the training's own init
    kept = sum(int((p == q.half().float()).sum()) for p, q in zip(out.parameters(), model.parameters()))
    total = sum(p.numel() for p in model.parameters())
    assert 0.005 * total < kept < 0.03 * total
    assert all(torch.equal(p, p.half().float()) for p in run("prmq", mlp).parameters())


def test_rni_resets_the_head_and_keeps_training_flags(mlp):
    model = mlp[0]
    out = run("rni", mlp, epochs=0)
    assert not torch.equal(out[3].weight, model[3].weight) and torch.equal(out[1].weight, model[1].weight)
    trained = run("rni", mlp)
    assert accuracy(trained, mlp[3]) > 0.5 and all(p.requires_grad for p in trained.parameters())


def test_kde_resets_stem_and_head_and_distils(cnn):
    model = cnn[0]
    out = run("kde", cnn, epochs=0, retain_epochs=0)
    assert not torch.equal(out[0].weight, model[0].weight) and not torch.equal(out[-1].weight, model[-1].weight)
    assert torch.equal(out[3].weight, model[3].weight) and torch.equal(out[-3].weight, model[-3].weight)


# -- teacher / student --------------------------------------------------------------------------------


def test_bt_pushes_forget_towards_the_random_teacher(mlp):
    model, _, forget, retain, _ = mlp
    out = run("bt", mlp)
    assert entropy(out, forget) > 2 * entropy(model, forget) and accuracy(out, retain) > 0.95


def test_scrub_max_steps_move_the_student_away_on_forget(mlp):
    model, meta, forget, retain, test = mlp
    bare = UnlearnData(retain.X, retain.y)  # no val: the final epoch is kept

    def kl_on_forget(msteps):
        # at the start student == teacher and the max-step gradient is 0; the CE min-steps move it first
        cfg = {"lr": 0.01, "alpha": 0.0, "forget_batch_size": 8, "epochs": 3, "msteps": msteps}
        out = run_unlearning("scrub", model, forget, bare, config=cfg).model
        with torch.no_grad():
            return float(F.kl_div(F.log_softmax(out(forget.X), 1), F.softmax(model(forget.X), 1), reduction="batchmean"))

    assert kl_on_forget(3) > 2 * kl_on_forget(0) > 0
    default = run("scrub", mlp)
    assert accuracy(default, test) >= accuracy(model, test) - 0.02


def test_fcs_first_stage_flattens_forget_outputs(mlp):
    model, _, forget, retain, _ = mlp
    out = run("fcs", mlp, epochs=0)
    assert entropy(out, forget) > entropy(model, forget)
    assert accuracy(run("fcs", mlp), retain) > 0.95


# -- gradient statistics ----------------------------------------------------------------------------


def test_ssd_only_dampens(mlp):
    model = mlp[0]
    out = run("ssd", mlp, alpha=1.0)
    ratios = [p / q for p, q in zip(out.parameters(), model.parameters()) if True]
    shrunk = sum(int((r < 1).sum()) for r in ratios)
    assert shrunk > 0 and all(bool(((r >= 0) & (r <= 1)).all()) for r in ratios if not torch.isnan(r).any())
    assert all(bool((p.abs() <= q.abs()).all()) for p, q in zip(out.parameters(), model.parameters()))


def test_ff_and_iu_with_zero_alpha_are_identity(mlp):
    model = mlp[0]
    for name in ("ff", "iu"):
        out = run(name, mlp, alpha=0.0)
        assert all(torch.equal(p, q) for p, q in zip(out.parameters(), model.parameters())), name
    assert all(not torch.equal(p, q) for p, q in zip(run("ff", mlp).parameters(), model.parameters()))


def test_iu_steps_up_the_forget_loss(mlp):
    model, _, forget, _, test = mlp
    out = run("iu", mlp, alpha=5.0)
    assert loss(out, forget) - loss(model, forget) > loss(out, test) - loss(model, test)
    assert loss(out, forget) > loss(model, forget)
