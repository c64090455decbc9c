"""`muaudit benchmark --resume` against a folder whose inputs changed or whose study database is
damaged (issue 19): one `Error:` line saying what changed, exit 2, and nothing in the folder
written before the checks pass."""

import json
import os
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("optuna")

from muaudit.cli.main import cli  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = """
[dataset]
name = "npz"
path = "data.npz"
[model]
arch = "mlp"
hidden = [8]
[train]
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
epochs = 2
batch_size = 64
[pool]
n_models = 2
"""
SPEC = """recipe = "tiny.toml"
methods = ["ft"]
seeds = [0]
metrics = ["accuracy"]
[search]
trials = 2
population = 2
[method.ft]
space = { lr = { low = 1e-3, high = 1e-1, log = true } }
fixed = { epochs = 1 }
[[forget]]
name = "random10"
fraction = 0.1
"""


def _write_data(path, bump: bool = False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    if bump:
        x[0, 0] += 1.0
    np.savez(path, x=x, y=y, split=(np.arange(240) % 4 == 0).astype(np.int8))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny benchmark (a copy per test: ``_copy``)."""
    root = tmp_path_factory.mktemp("resume")
    _write_data(root / "data.npz")
    (root / "tiny.toml").write_text(RECIPE)
    (root / "spec.toml").write_text(SPEC)
    cwd = os.getcwd()
    os.chdir(root)  # the recipe's dataset path is relative
    try:
        r = CliRunner().invoke(cli, ["benchmark", str(root / "spec.toml"), "--out", str(root / "out")])
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    return root


def _copy(finished, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(finished, root)
    stored = json.loads((root / "out" / "spec.json").read_text())  # paths recorded by the run: this copy's
    stored["recipe"] = str(root / "tiny.toml")
    stored["inputs"]["recipe"]["path"] = str(root / "tiny.toml")
    (root / "out" / "spec.json").write_text(json.dumps(stored, indent=2, sort_keys=True))
    return root


def _snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
                  for p in folder.rglob("*"))


def _resume(root, monkeypatch):
    monkeypatch.chdir(root)  # the recipe's dataset path is relative
    return CliRunner().invoke(cli, ["benchmark", str(root / "spec.toml"), "--out", str(root / "out"), "--resume"])


def _one_error(r, expected: str) -> str:
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == lines[-1] and "Traceback" not in r.output, r.output
    assert expected in errors[0], errors[0]
    return errors[0]


def _drop_table(db):
    con = sqlite3.connect(db)
    con.execute("DROP TABLE trial_params")
    con.commit()
    con.close()


def _delete_params(db):
    con = sqlite3.connect(db)
    con.execute("DELETE FROM trial_params WHERE trial_id = (SELECT MIN(trial_id) FROM trial_params)")
    con.commit()
    con.close()


CASES = {  # name: (damage the copied run root, the expected part of the one Error: line)
    "recipe epochs edited": (lambda root: (root / "tiny.toml").write_text(RECIPE.replace("epochs = 2", "epochs = 1")),
                             "recipe {root}/tiny.toml changed since the benchmark in {root}/out started "
                             "(train.epochs 2 -> 1); restore it, or start a new --out"),
    "recipe comment added": (lambda root: (root / "tiny.toml").write_text("# tuned\n" + RECIPE),
                             "only its text: the resolved recipe is the same"),
    "dataset file changed": (lambda root: _write_data(root / "data.npz", bump=True),
                             "the recipe's dataset changed since the benchmark in {root}/out started (fingerprint "),
    "old folder without inputs": (lambda root: _edit_stored(root, lambda d: d.pop("inputs")),
                                  "does not record the content of its inputs (started by an older muaudit)"),
    "study db: trial_params dropped": (lambda root: _drop_table(root / "out" / "studies.db"),
                                       "study database {root}/out/studies.db lacks the table 'trial_params'"),
    "study db: a trial's parameters deleted": (lambda root: _delete_params(root / "out" / "studies.db"),
                                               "study database {root}/out/studies.db: finished trial 0 of ft/random10 "
                                               "holds parameters [], expected ['lr']"),
    "study db: random bytes": (lambda root: (root / "out" / "studies.db").write_bytes(
                                   np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes()),
                               "study database {root}/out/studies.db cannot be read (file is not a database)"),
    "study db: 0 bytes": (lambda root: (root / "out" / "studies.db").write_bytes(b""),
                          "study database {root}/out/studies.db is empty (0 bytes)"),
}


def _edit_stored(root, fn):
    path = root / "out" / "spec.json"
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


@pytest.mark.parametrize("case", list(CASES))
def test_resume_refuses_changed_inputs_and_damaged_studies(case, finished, tmp_path, monkeypatch):
    root = _copy(finished, tmp_path)
    damage, expected = CASES[case]
    damage(root)
    before = _snapshot(root / "out")
    _one_error(_resume(root, monkeypatch), expected.format(root=root))
    assert _snapshot(root / "out") == before  # spec.json, sessions.json, studies.db: nothing rewritten


def test_resume_with_unchanged_inputs_goes_on(finished, tmp_path, monkeypatch):
    root = _copy(finished, tmp_path)
    r = _resume(root, monkeypatch)
    assert r.exit_code == 0, r.output
    assert len(json.loads((root / "out" / "sessions.json").read_text())) == 2
