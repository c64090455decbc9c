"""Third-party digits targets audited against the default pool: verdicts and compatibility.

Not a speed benchmark: it measures what docs/third-party.md reports. Every target is written the
way a third party would (TorchScript without Flatten, ONNX, a CNN trained on normalised inputs,
an SGD recipe, safetensors, scikit-learn probabilities), once trained on the whole training split
("orig") and once without a random 10% forget set ("retrain"), and audited with ``muaudit lira``
(with ``--train-idx`` for the power control).

    OMP_NUM_THREADS=1 python benchmarks/third_party.py [--pool shadow_models/digits-mlp] [--out DIR]
    OMP_NUM_THREADS=1 python benchmarks/third_party.py --false-warnings 6   # 6 originals + 6 retrains

``--false-warnings K`` instead trains K originals and K retrains of the pool's own recipe
(``muaudit train``, seeds 0.. and 100..), audits each and counts the targets whose compatibility
is not ``ok``; it also runs the accuracy rule on every shadow as a target against the others.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from muaudit.data import load_dataset
from muaudit.jobs import run_lira
from muaudit.models import build_model

MEAN, STD = 0.3, 0.38  # per-channel normalisation the CNN target was trained with (digits: mean 0.30, std 0.38)


def fit(model, X, y, *, epochs, seed, optimizer="adam", lr=1e-3):
    g = torch.Generator().manual_seed(seed)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), 128):
            b = perm[s:s + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[b]), y[b]).backward()
            opt.step()
    return model.eval()


def make_targets(out: Path, ds, positions: dict) -> dict:
    """``{name: (path, extra lira options)}`` for every target written under ``out``."""
    from safetensors.torch import save_file
    from sklearn.neural_network import MLPClassifier

    from muaudit.pool import load_spec
    from muaudit.training.single import train_on_positions

    targets = {}
    for split, pos in positions.items():
        rows = ds.train_idx[pos]
        torch.manual_seed(1)
        flat = fit(nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)), ds.X[rows].reshape(len(rows), -1),
                   ds.y[rows], epochs=100, seed=1)
        torch.jit.script(flat).save(str(out / f"flat-{split}.pt"))
        targets[f"TorchScript flat MLP, {split}"] = (out / f"flat-{split}.pt", {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(flat, (torch.zeros(2, 64),), str(out / f"flat-{split}.onnx"), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "n"}})
        targets[f"ONNX flat MLP, {split}"] = (out / f"flat-{split}.onnx", {})
        cnn = build_model("cnn", (1, 8, 8), 10, random_state=2, channels=[16, 32], hidden=64)
        cnn = fit(cnn, (ds.X[rows] - MEAN) / STD, ds.y[rows], epochs=30, seed=2)
        torch.jit.script(cnn).save(str(out / f"cnn-{split}.pt"))
        targets[f"normalised CNN fed raw pixels, {split}"] = (out / f"cnn-{split}.pt", {})
        targets[f"normalised CNN + --input-mean/--input-std, {split}"] = (
            out / f"cnn-{split}.pt", {"input_mean": str(MEAN), "input_std": str(STD)})
        sk = MLPClassifier((256,), max_iter=300, random_state=3).fit(ds.X[rows].reshape(len(rows), -1), ds.y[rows])
        np.save(out / f"sklearn-{split}.npy", sk.predict_proba(ds.X.reshape(len(ds.X), -1)).astype(np.float32))
        targets[f"scikit-learn predict_proba .npy, {split}"] = (out / f"sklearn-{split}.npy", {})
        spec = load_spec("shadow_models/digits-mlp.toml")
        sgd = spec.train.__class__(**{**spec.train.to_dict(), "optimizer": "sgd", "lr": 0.05})
        make = lambda s, spec=spec: spec.make_model(s, ds.input_shape, ds.n_classes)  # noqa: E731
        model, _ = train_on_positions(make, ds, pos, sgd, 4)
        save_file(model.state_dict(), out / f"sgd-{split}.safetensors")
        targets[f"SGD-trained MLP as safetensors, {split}"] = (out / f"sgd-{split}.safetensors", {})
        from muaudit.models import save_checkpoint
        from muaudit.training.single import model_meta

        meta = model_meta(arch="mlp", arch_kwargs=spec.arch_kwargs, dataset=ds, train_idx=pos, seed=4, recipe=sgd)
        save_checkpoint(out / f"sgd-{split}.pt", model, meta)
        targets[f"SGD-trained MLP, muaudit checkpoint, {split}"] = (out / f"sgd-{split}.pt", {})
    return targets


def shadow_false_warnings(pool) -> int:
    """The accuracy rule on each shadow as a target (members: 90% of its IN training rows;
    non-members: its OUT test rows) against the other shadows; returns how many are flagged."""
    from muaudit.data import TEST
    from muaudit.pool import Pool
    from muaudit.targets import compat

    p = Pool(pool)
    correct = p.logits()[:, :, 0].argmax(-1) == p.labels[None]
    test, train = np.flatnonzero(p.split == TEST), np.flatnonzero(p.split != TEST)
    rng, flagged = np.random.default_rng(0), 0
    for m in range(p.n_models):
        others = np.delete(np.arange(p.n_models), m)
        members = train[p.keep[m, train]]
        forget = rng.choice(members, len(members) // 10, replace=False)
        _, found = compat.accuracy_findings(correct[m], correct[others], p.keep[others], forget=forget,
                                            nonmembers=test[~p.keep[m, test]], members=np.setdiff1d(members, forget),
                                            n_classes=int(p.labels.max()) + 1)
        flagged += bool(found)
    return flagged


def false_warnings(pool, out: Path, forget_file: Path, k: int) -> None:
    from muaudit.jobs.train import run_train

    flagged = 0
    for i in range(k):
        for split, seed, exclude in (("orig", i, None), ("retrain", 100 + i, forget_file)):
            path = out / f"fw-{split}-{i}.pt"
            run_train("shadow_models/digits-mlp.toml", path, exclude=exclude, random_state=seed)
            r, _ = run_lira(target=path, forget=forget_file, pool=pool, out=out / "audits" / path.stem)
            c = r["compatibility"]
            flagged += c["status"] != "ok"
            print(f"{path.name}: {r['verdict']} (p = {r['p_value']:.2g}), compatibility {c['status']} {c['reasons']}",
                  flush=True)
    print(f"false warnings: {flagged} of {2 * k} targets; accuracy rule on the shadows: "
          f"{shadow_false_warnings(pool)} flagged")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", default="shadow_models/digits-mlp")
    ap.add_argument("--out", default="results/third-party")
    ap.add_argument("--false-warnings", type=int, default=0, metavar="K")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("digits")
    forget = np.sort(np.random.default_rng(0).choice(len(ds.train_idx), len(ds.train_idx) // 10, replace=False))
    np.save(out / "forget.npy", forget)
    if args.false_warnings:
        return false_warnings(args.pool, out, out / "forget.npy", args.false_warnings)
    positions = {"orig": np.arange(len(ds.train_idx)), "retrain": np.setdiff1d(np.arange(len(ds.train_idx)), forget)}
    for split, pos in positions.items():
        np.save(out / f"train-{split}.npy", pos)
    rows = []
    for name, (path, extra) in make_targets(out, ds, positions).items():
        split = name.rsplit(", ", 1)[1]
        r, _ = run_lira(target=path, forget=out / "forget.npy", pool=args.pool, train_idx=out / f"train-{split}.npy",
                        out=out / "audits" / f"{path.name.replace('.', '-')}{'-norm' if extra else ''}", **extra)
        c = r["compatibility"]
        rows.append({"target": name, "verdict": r["verdict"], "p_value": r["p_value"],
                     "power": (r["power_control"] or {}).get("power"), "status": c["status"], "reasons": c["reasons"],
                     "advice": c["advice"], "nonmember_accuracy": c["accuracy"]["nonmembers"]["target"]})
        print(f"| {name} | {r['verdict']} | {r['p_value']:.2g} | {rows[-1]['power']:.2f} | {c['status']} | "
              f"{rows[-1]['nonmember_accuracy']:.3f} |", flush=True)
    (out / "third_party.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
