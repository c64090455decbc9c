"""Benchmark specs: parsing, defaults and bad input (one `Error:` line, exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from muaudit.benchmark import load_benchmark_spec
from muaudit.benchmark.space import SEARCH_SPACES, default_space, suggest
from muaudit.cli.main import cli
from muaudit.unlearning import get_method, make_config, method_names
from tests.kit import error_line

ROOT = Path(__file__).resolve().parents[1]
BASE = """{top}
recipe = "digits-mlp"
methods = {methods}
seeds = [0, 1]
[search]
trials = {trials}
[[forget]]
kind = "{kind}"
{forget}
{extra}
"""


def write(tmp_path, methods='["ft"]', trials=2, kind="random", forget="fraction = 0.1", extra="", top=""):
    p = tmp_path / "spec.toml"
    p.write_text(BASE.format(top=top, methods=methods, trials=trials, kind=kind, forget=forget, extra=extra))
    return p


def test_shipped_specs_parse():
    small = load_benchmark_spec(ROOT / "benchmarks/specs/digits-small.toml")
    assert [m.name for m in small.methods] == ["retrain", "ft", "ga"] and small.seeds == (0, 1)
    assert small.trials == 2 and small.forget[0].fraction == 0.1
    full = load_benchmark_spec(ROOT / "benchmarks/specs/digits-deepunlearn.toml")
    assert {m.name for m in full.methods} == set(method_names()) and len(full.methods) == 23
    assert {f.kind for f in full.forget} == {"random", "class"}


def test_method_tables_fix_and_override(tmp_path):
    spec = load_benchmark_spec(write(tmp_path, extra='[method.ft]\nfixed = {batch_size = 64}\n'
                                                      'space = {lr = {low = 0.001, high = 0.01, log = true}}'))
    plan = spec.methods[0]
    assert plan.fixed == {"batch_size": 64} and set(plan.space) == {"lr"}
    spec = load_benchmark_spec(write(tmp_path, extra="[method.ft]\nfixed = {epochs = 3}"))
    assert "epochs" not in spec.methods[0].space and "lr" in spec.methods[0].space


@pytest.mark.parametrize("name", sorted(SEARCH_SPACES))
def test_default_spaces_build_valid_configs(name):
    """Every default space's corners are valid configs of the method (a contract table)."""
    import optuna

    method = get_method(name)
    space = default_space(name)
    for corner in ("low", "high"):
        params = {k: (p["choices"][0] if "choices" in p else p[corner]) for k, p in space.items()}
        cfg = suggest(optuna.trial.FixedTrial(params), method, space)
        make_config(method, cfg)


@pytest.mark.parametrize("kwargs, message", [
    ({"methods": '["ft", "nope"]'}, "Error: unknown unlearning method 'nope'; valid: "),
    ({"trials": 0}, "Error: Expected `[search] trials` an integer in [1, 100000], got 0"),
    ({"trials": "2\nsampler_seed = -1"}, "Error: Expected `[search] sampler_seed` an integer in [0, 4294967295], got -1"),
    ({"extra": "[method.ft]\nspace = {}"}, "Error: [method.ft] has an empty search space; give at least one "
                                           "parameter range, or remove `space` to use the default one"),
    ({"extra": "[method.ft]\nspace = {lr = {low = 0.1, high = 0.01}}"},
     "Error: [method.ft] space.lr: empty range, Expected `low` <= `high`, got 0.1 > 0.01"),
    ({"kind": "class", "forget": "classes = [12]"},
     "Error: [[forget]] 'class12': class 12 does not exist; the dataset has classes 0..9"),
    ({"top": "colour = 1"}, "Error: unknown benchmark spec key 'colour'; valid: name, recipe, methods, seeds, "
                              "metrics, search, forget, method"),
    ({"forget": "fraction = 0.1\nsize = 3"}, "Error: unknown [[forget]] key 'size'; valid: name, kind, fraction, classes"),
    ({"extra": "[method.ft]\nfixed = {lrr = 1}"}, "Error: unknown option 'lrr' for unlearning method 'ft'; valid: "),
])
def test_bad_specs_one_error_line(tmp_path, kwargs, message):
    result = CliRunner().invoke(cli, ["benchmark", str(write(tmp_path, **kwargs)), "--out", str(tmp_path / "o")])
    assert error_line(result).startswith(message)
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


def test_budget_zero_on_the_command_line(tmp_path):
    result = CliRunner().invoke(cli, ["benchmark", str(write(tmp_path)), "--trials", "0"])
    assert error_line(result) == "Error: Expected `--trials` an integer in [1, 100000], got 0"


def _square(x):
    return x * x


@pytest.mark.slow  # measured: worker processes and Ray: 195 s at load 20 (the fast loop, docs/development.md)
def test_one_argument_tasks_run_on_every_executor_the_same():
    """The benchmark's task functions take one argument; ``each`` maps them over any
    muaudit.execution executor (here: this process and two worker processes)."""
    from muaudit.execution import each, make_executor

    tasks = [3, 1, 4, 1, 5]
    for workers in (1, 2):
        with make_executor("local", workers=workers) as ex:
            assert dict(each(ex, _square, tasks)) == {i: t * t for i, t in enumerate(tasks)}
