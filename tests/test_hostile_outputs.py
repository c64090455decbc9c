"""Where outputs go (issue 19): names from files never leave ``--out``, no command writes a file it
reads, results folders and reports appear whole or not at all, bounds on counts and threads.
See docs/security.md ("Nothing is lost", "Names from files")."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.atomic import staged_dir, write_inside, write_text
from muaudit.cli.main import cli
from muaudit.errors import ConfigError, MuauditError
from muaudit.paths import check_inside, safe_name
from tests.kit import TINY_RECIPE as RECIPE
from tests.kit import copy_kit, ok, one_error, run, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kit(tmp_path_factory, cli_kit_base):
    return copy_kit(cli_kit_base, tmp_path_factory.mktemp("kit"))  # tiny.toml, pool/, model.pt, forget.npy, results/


# --- one helper for names that become paths ----------------------------------------------------------

@pytest.mark.parametrize("name", ["../../elsewhere/victim", "a/b", "", ".", "..", "..x", "/abs", "C:x", "a\\b",
                                  "CON", "nul.txt", "com1", "a\x00b", "tab\there", " lead", "x" * 200, 3, None])
def test_safe_name_refuses_what_is_not_one_plain_name(name):
    with pytest.raises(ConfigError, match="one plain file name"):
        safe_name(name, "[[forget]] name")


@pytest.mark.parametrize("name", ["random10", "class3", "a.b", "ng+", "x-1_2", "con1"])
def test_safe_name_keeps_plain_names(name):
    assert safe_name(name, "n") == name


def test_writes_never_leave_the_output_folder_symlinks_included(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir(), elsewhere.mkdir()
    os.symlink(elsewhere, out / "runs")  # planted in the folder: a write through it would leave `out`
    with pytest.raises(MuauditError, match="outside the output folder"):
        write_inside(out, out / "runs" / "ft" / "s0.json", "{}")
    with pytest.raises(MuauditError, match="outside the output folder"):
        write_inside(out, out / "models" / ".." / ".." / "victim.json", "{}")
    assert not any(elsewhere.iterdir()) and not (tmp_path / "victim.json").exists()
    assert write_inside(out, out / "runs2" / "s0.json", "{}").read_text() == "{}"
    with pytest.raises(MuauditError):
        check_inside(tmp_path / "x", out)


def test_benchmark_forget_name_is_not_a_path(tmp_path, monkeypatch):
    """Issue 19: ``name = "../../../../elsewhere/victim"`` replaced files outside --out."""
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "elsewhere" / "victim"
    victim.mkdir(parents=True)
    (victim / "s0.json").write_text("precious")
    (tmp_path / "r.toml").write_text(RECIPE)
    for name in ("../../../../elsewhere/victim", "a/b", "CON"):
        spec = tmp_path / "s.toml"
        spec.write_text(f'recipe = "r.toml"\nmethods = ["original", "retrain"]\nseeds = [0]\n'
                        f'[[forget]]\nname = "{name}"\nfraction = 0.1\n')
        before = snapshot(tmp_path)
        one_error(run("benchmark", spec, "--out", tmp_path / "o"), "[[forget]] entry 0 `name` one plain file name")
        assert snapshot(tmp_path) == before


def test_recipe_name_is_not_a_path(tmp_path):
    from muaudit.pool.spec import PoolSpec

    with pytest.raises(ConfigError, match="recipe `name` one plain file name"):
        PoolSpec.from_dict({"name": "../../x"})


# --- no command writes what it reads ----------------------------------------------------------------

@pytest.mark.parametrize("extra, expected", [
    (["--html", "--out", "{R}/results.json"], "is the input"),
    (["--html", "--out", "{R}/roc.png"], "is the input"),
    (["--csv", "{R}/scores.npz"], "is the input"),
    (["--csv", "{R}/roc_loglog.png"], "is the input"),
    (["--html", "--out", "{T}/x.html", "--csv", "{T}/x.html"], "are one file"),
    (["--html", "--out", "{T}/link.html", "--csv", "{T}/x.csv"], "is the input"),  # a link to results.json
])
def test_report_never_writes_its_inputs(kit, tmp_path, extra, expected):
    r_dir = tmp_path / "R"
    shutil.copytree(kit / "results", r_dir)
    os.symlink(r_dir / "results.json", tmp_path / "link.html")
    before = snapshot(tmp_path)
    args = [a.format(R=r_dir, T=tmp_path) for a in extra]
    one_error(run("report", r_dir, *args), expected)
    assert snapshot(tmp_path) == before


def test_audit_out_may_not_hold_its_inputs(kit, tmp_path):
    """A results folder is replaced as a whole: an --out that holds an input is refused."""
    out = tmp_path / "o"
    shutil.copytree(kit / "results", out)
    shutil.copy(kit / "forget.npy", out / "forget.npy")
    before = snapshot(tmp_path)
    one_error(run("mia", "--target", kit / "model.pt", "--forget", out / "forget.npy", "--out", out),
              "lies inside the output folder")
    assert snapshot(tmp_path) == before


def test_audit_out_with_other_files_is_refused(kit, tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "thesis.tex").write_text("years of work")
    one_error(run("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", tmp_path / "o"),
              "not empty and not a muaudit results folder")
    assert (tmp_path / "o" / "thesis.tex").read_text() == "years of work"


# --- whole or nothing ----------------------------------------------------------------------------------

@pytest.mark.slow  # measured: 2.2 s CPU (the fast loop, docs/development.md)
def test_rerun_replaces_the_whole_results_folder(kit, tmp_path):
    """Issue 19: a rerun into an existing --out left the previous audit's other files beside it."""
    out = tmp_path / "o"
    shutil.copytree(kit / "results", out)
    (out / "stale_extra.png").write_bytes((out / "roc.png").read_bytes())
    ok("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", out)
    assert not (out / "stale_extra.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no temporary or old folder left


def test_staged_dir_failure_leaves_the_old_folder(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.json").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), staged_dir(out) as tmp:
        (tmp / "results.json").write_text("new, half")
        raise RuntimeError("boom")
    assert (out / "results.json").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    with staged_dir(out) as tmp:
        (tmp / "results.json").write_text("new")
    assert (out / "results.json").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_write_text_failure_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    f = tmp_path / "report.html"
    f.write_text("old report")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(MuauditError, match=r"no space left on device writing .*report.html"):
        write_text(f, "new report")
    assert f.read_text() == "old report" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "scores.npz").write_bytes(b""), "scores.npz is empty"),
    (lambda d: (d / "scores.npz").unlink(), "scores.npz is missing"),
    (lambda d: (d / "roc.png").write_bytes((d / "roc.png").read_bytes()[:300]), "roc.png is not a complete PNG"),
    (lambda d: (d / "scores_hist.png").unlink(), "scores_hist.png is missing"),
    (lambda d: (d / "scores.npz").write_bytes((d / "scores.npz").read_bytes()[:-40]), "not a complete .npz"),
    (lambda d: (d / "roc.png").unlink() or os.symlink("/etc/hostname", d / "roc.png"), "is a symbolic link"),
    (lambda d: os.symlink("/etc/hostname", d / "extra.png"), "extra.png is a symbolic link"),
])
def test_report_refuses_a_damaged_results_folder(kit, tmp_path, damage, expected):
    r_dir = tmp_path / "R"
    shutil.copytree(kit / "results", r_dir)
    damage(r_dir)
    for args in ([], ["--html", "--out", tmp_path / "r.html"], ["--csv", tmp_path / "r.csv"]):
        one_error(run("report", r_dir, *args), expected)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.csv").exists()


def test_tiny_tpr_key_is_an_error_not_an_overflow(kit, tmp_path):
    r_dir = tmp_path / "R"
    shutil.copytree(kit / "results", r_dir)
    r = json.loads((r_dir / "results.json").read_text())
    r["tpr_at_fpr"] = {"1e-310": {"tpr": 0.0, "ci": [0.0, 1.0], "measurable": False}}
    (r_dir / "results.json").write_text(json.dumps(r))
    one_error(run("report", r_dir, "--html", "--out", tmp_path / "r.html"), "'tpr_at_fpr' entry '1e-310'")


def test_csv_cells_missing_numbers_and_formulas():
    from muaudit.report.html import _cell

    assert _cell(None) == "" and _cell(float("nan")) == ""
    for text in ("=1+1", " =1+1", "\u00a0+cmd", "\t@x", "\uff1dHYPERLINK()", "\uff0b1", "\uff0d1", "\uff20x", "  -2"):
        assert _cell(text) == "'" + text, text
    assert _cell("plain") == "plain" and _cell(0.5) == 0.5


# --- bounds ---------------------------------------------------------------------------------------------

def test_thread_bounds_name_the_machine():
    from muaudit.checks import check_threads
    from muaudit.threads import machine_cores, max_threads

    assert max_threads() == 4 * machine_cores()
    assert check_threads("threads", max_threads()) == max_threads()
    for bad in (max_threads() + 1, 999999, 10**19):
        with pytest.raises(ConfigError, match=rf"at most {max_threads()} \(4 x this machine's {machine_cores()} CPU cores\)"):
            check_threads("threads", bad)


@pytest.mark.parametrize("args, expected", [
    (["train", "{kit}/tiny.toml", "--out", "{tmp}/t.pt", "--threads", "999999"], "Expected `threads` at most"),
    (["train", "{kit}/tiny.toml", "--out", "{tmp}/t.pt", "--threads", "10000000000000000000"], "Expected `threads` at most"),
    (["pool", "build", "{kit}/tiny.toml", "--out", "{tmp}/p", "--executor", "ray", "--cpus-per-model", "nan"],
     "Expected `cpus_per_model` a number in (0, 1024], got nan"),
    (["pool", "build", "{kit}/tiny.toml", "--out", "{tmp}/p", "--cpus-per-model", "1e300"], "Expected `cpus_per_model`"),
    (["poison", "gaussian", "--recipe", "{kit}/tiny.toml", "--method", "ft", "--threads", "999999", "--out", "{tmp}/o"],
     "Expected `threads` at most"),
    (["benchmark", "{tmp}/s.toml", "--workers", "999999", "--out", "{tmp}/o"], "Expected `workers` at most"),
    (["benchmark", "{tmp}/s.toml", "--trials", "100000000000", "--out", "{tmp}/o"],
     "Expected `--trials` an integer in [1, 100000]"),
])
def test_option_bounds_are_one_error_line(kit, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text(RECIPE)
    (tmp_path / "s.toml").write_text('recipe = "r.toml"\nmethods = ["original"]\nseeds = [0]\n[[forget]]\nfraction = 0.1\n')
    before = snapshot(tmp_path)
    one_error(run(*[a.format(kit=kit, tmp=tmp_path) for a in args]), expected)
    assert snapshot(tmp_path) == before  # checked before anything was created (no pool.h5)


def test_threads_from_the_environment_are_bounded(kit, tmp_path, monkeypatch):
    monkeypatch.setenv("MUAUDIT_THREADS", "999999")
    one_error(run("train", kit / "tiny.toml", "--out", tmp_path / "t.pt"), "Expected `$MUAUDIT_THREADS` at most")
    assert not (tmp_path / "t.pt").exists()


@pytest.mark.parametrize("body, expected", [
    ('seeds = [0]\n[[forget]]\nfraction = 1e-9\n', "[[forget]] entry 0 ('random0') `fraction` = 1e-09 selects 0 of the"),
    ('seeds = [0]\n[[forget]]\nfraction = 0.9999\n', "`fraction` = 0.9999 selects"),
    ('seeds = [0]\n[[forget]]\nfraction = 0.1\n[method.ft]\nspace = {epochs = {low = 1, high = 100000000000}}\n',
     "[method.ft] space.epochs.high = 100000000000: Expected `epochs`"),
    ('seeds = [0]\n[search]\ntrials = 100000000000\n[[forget]]\nfraction = 0.1\n',
     "Expected `[search] trials` an integer in [1, 100000], got 100000000000"),
    (f'seeds = {list(range(100000))}\n[[forget]]\nfraction = 0.1\n', "Expected `number of `seeds`` an integer in [1, 1000]"),
    ('seeds = [4294967296]\n[[forget]]\nfraction = 0.1\n', "Expected `seeds[0]` an integer in [0, 4294967295]"),
])
def test_benchmark_spec_values_are_checked_before_training(tmp_path, monkeypatch, body, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text(RECIPE)
    (tmp_path / "s.toml").write_text('recipe = "r.toml"\nmethods = ["ft"]\n' + body)
    before = snapshot(tmp_path)
    one_error(run("benchmark", tmp_path / "s.toml", "--out", tmp_path / "o"), expected)
    assert snapshot(tmp_path) == before  # no models/, no spec.json


# --- messages -------------------------------------------------------------------------------------------

def test_index_files_must_have_an_integer_dtype(kit, tmp_path):
    np.save(tmp_path / "f.npy", np.arange(20).astype("m8[s]"))
    one_error(run("mia", "--target", kit / "model.pt", "--forget", tmp_path / "f.npy", "--out", tmp_path / "o"),
              "holds timedelta64[s] values")


def test_float32_overflow_has_its_own_message(kit, tmp_path):
    import torch

    one_error(run("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", tmp_path / "o",
                     "--input-std", "1e-300"), "`input_std` value 1e-300 is finite in float64 but not usable in float32")
    obj = torch.load(kit / "model.pt", weights_only=True)
    state = {k: v.double() for k, v in obj["state_dict"].items()}
    next(iter(state.values()))[0, 0] = 1e300
    torch.save(state, tmp_path / "raw.pt")
    one_error(run("lira", "--target", tmp_path / "raw.pt", "--arch", "mlp", "--forget", kit / "forget.npy",
                     "--pool", kit / "pool", "--out", tmp_path / "o"), "holds 1e+300, finite in float64 but not in the model's float32")
    assert not (tmp_path / "o").exists()


def test_meta_adapter_is_checked_like_the_options(kit, tmp_path):
    import torch

    obj = torch.load(kit / "model.pt", weights_only=True)
    obj["meta"]["input_adapter"] = {"layout": "flat", "mean": [0.0, 0.1, 0.2], "std": [1.0, 1.0, 1.0]}
    torch.save(obj, tmp_path / "m.pt")
    one_error(run("lira", "--target", tmp_path / "m.pt", "--forget", kit / "forget.npy", "--pool", kit / "pool",
                     "--out", tmp_path / "o"), "meta 'input_adapter' is not valid (Expected `input_mean` with 1 value")


@pytest.mark.slow  # measured: 1.4 s CPU (the fast loop, docs/development.md)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_warnings_of_a_failed_command_are_held_back(kit, tmp_path, monkeypatch):
    """Only the Error: line: numpy's and click's warnings are shown only when the command succeeds."""
    import warnings

    import muaudit.jobs.mia as mia

    real = mia.run_mia

    def noisy(**kw):
        np.float32(1e38) * np.float32(10)  # numpy: overflow encountered
        warnings.warn("a click-style UserWarning", UserWarning)
        return real(**kw)

    monkeypatch.setattr(mia, "run_mia", noisy)
    r = CliRunner().invoke(cli, ["mia", "--target", str(kit / "model.pt"), "--forget", str(tmp_path / "none.npy"),
                                 "--out", str(tmp_path / "o")])
    assert "Warning" not in r.output and len([x for x in r.output.splitlines() if x.strip()]) == 1, r.output
    with pytest.warns(UserWarning, match="click-style"):
        r = CliRunner().invoke(cli, ["mia", "--target", str(kit / "model.pt"), "--forget", str(kit / "forget.npy"),
                                     "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output


def test_torchscript_multiline_error_is_kept_whole():
    from muaudit.targets.runner import describe_error

    e = RuntimeError('The following operation failed in the TorchScript interpreter.\nTraceback of TorchScript '
                     '(most recent call last):\n  File "m.py", line 5, in forward\n    raise RuntimeError("x")\n'
                     '            ~~~ <--- HERE\nbuiltins.RuntimeError: bad input\nexpected 3 channels\nsee docs\n')
    assert describe_error(e) == "builtins.RuntimeError: bad input / expected 3 channels / see docs"


@pytest.mark.slow  # measured: 2.6 s CPU (the fast loop, docs/development.md)
def test_results_folder_under_the_working_folder(kit, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", "res")
    assert (tmp_path / "res" / "results.json").is_file()
    one_error(run("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", "."),
              "is the working folder or holds it")
    one_error(run("mia", "--target", kit / "model.pt", "--forget", kit / "forget.npy", "--out", ".."),
              "is the working folder or holds it")


# --- every writer: nothing lands outside its --out ------------------------------------------------------

SPEC = 'recipe = "{recipe}"\nmethods = ["original", "retrain", "ft"]\nseeds = [0]\n[search]\ntrials = 1\n' \
       '[method.ft]\nfixed = {{epochs = 1}}\nspace = {{lr = {{low = 0.001, high = 0.01}}}}\n[[forget]]\nfraction = 0.1\n'
WRITERS = [
    ("train", lambda k, o: ["train", k / "tiny.toml", "--out", o / "t.pt"]),
    ("unlearn", lambda k, o: ["unlearn", "--method", "ft", "--model", k / "model.pt", "--forget", k / "forget.npy",
                              "--out", o / "u.pt", "--set", "epochs=1"]),
    ("lira", lambda k, o: ["lira", "--target", k / "model.pt", "--forget", k / "forget.npy", "--pool", k / "pool", "--out", o]),
    ("mia", lambda k, o: ["mia", "--target", k / "model.pt", "--forget", k / "forget.npy", "--out", o]),
    ("ulira", lambda k, o: ["ulira", "--pool", k / "pool", "--method", "ft", "--out", o]),
    ("report", lambda k, o: ["report", k / "results", "--html", "--out", o / "r.html", "--csv", o / "r.csv"]),
    ("pool-build", lambda k, o: ["pool", "build", k / "tiny.toml", "--out", o]),
    ("forget-set", lambda k, o: ["forget-set", o / "f.npy", "--recipe", k / "tiny.toml", "--count", "10"]),
    ("poison", lambda k, o: ["poison", "gaussian", "--recipe", k / "tiny.toml", "--method", "ft", "--seeds", "1",
                             "--set", "epochs=1", "--out", o]),
    ("benchmark", lambda k, o: ["benchmark", k / "bench.toml", "--out", o]),
]


SLOW_WRITERS = {"lira", "mia", "ulira", "poison", "benchmark"}  # measured: 1.1-1.4 s CPU each (docs/development.md)


@pytest.mark.parametrize("make", [pytest.param(w[1], id=w[0], marks=[pytest.mark.slow] if w[0] in SLOW_WRITERS else [])
                                  for w in WRITERS])
def test_every_writer_stays_inside_its_out(kit, tmp_path, monkeypatch, make):
    """Each command that writes files, run from a working folder: afterwards every new or changed
    path lies under its --out (no stray results/ folder, no temporary file, inputs unchanged)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (kit / "bench.toml").write_text(SPEC.format(recipe=kit / "tiny.toml"))
    out = tmp_path / "out"
    before = {**snapshot(tmp_path), **snapshot(kit)}
    ok(*make(kit, out))
    after = {**snapshot(tmp_path), **snapshot(kit)}
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed and all(Path(p) == out or out in Path(p).parents for p in changed), changed
    assert not [p for p in changed if ".tmp" in Path(p).name or ".old-" in Path(p).name], changed
    if (out / "runs").is_dir():  # the benchmark: one result file per method, none shared
        assert len(set((out / "runs").rglob("s0.json"))) == 3


@pytest.mark.slow  # measured: 4.5 s CPU, a CLI process (the fast loop, docs/development.md)
def test_onnxruntime_logs_nothing_before_the_error_line(kit, tmp_path):
    """A graph that fails inside a node: onnxruntime logs a coloured ``[E:onnxruntime:...]`` line to
    the process's stderr at severity 3; muaudit sets 4 (fatal), so only the Error: line remains."""
    import subprocess
    import sys
    import warnings

    import torch

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 10)

        def forward(self, x):
            y = self.lin(x.reshape(x.shape[0], -1))
            return y.reshape(x.shape[0] * 10 // 7, 7)  # fails at run time unless N is a multiple of 7

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Bad().eval(), (torch.zeros(7, 64),), str(tmp_path / "bad.onnx"), dynamo=False,
                          input_names=["x"], output_names=["output"], dynamic_axes={"x": {0: "n"}})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "muaudit.cli.main", "lira", "--target", str(tmp_path / "bad.onnx"),
                        "--forget", str(kit / "forget.npy"), "--pool", str(kit / "pool"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=600, check=False)
    assert r.returncode == 2 and r.stderr.startswith("Error: target ") and r.stderr.count("\n") == 1, r.stderr
    assert "onnxruntime:" not in r.stderr.split("(", 1)[0] and "\x1b[" not in r.stderr


def test_atomic_outputs_get_the_usual_permissions(tmp_path):
    """mkstemp / mkdtemp create 0600 / 0700; a report or results folder must be as readable as a
    plain write would make it (or keep the mode of the file it replaces)."""
    old = os.umask(0o022)
    try:
        assert (write_text(tmp_path / "a.html", "x").stat().st_mode & 0o777) == 0o644
        (tmp_path / "b.csv").write_text("old")
        os.chmod(tmp_path / "b.csv", 0o640)
        assert (write_text(tmp_path / "b.csv", "new").stat().st_mode & 0o777) == 0o640
        with staged_dir(tmp_path / "res") as tmp:
            (tmp / "results.json").write_text("{}")
        assert ((tmp_path / "res").stat().st_mode & 0o777) == 0o755
    finally:
        os.umask(old)
