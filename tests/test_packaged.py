"""One resolver for the files shipped in the package (recipes, benchmark specs), from any folder."""

import pytest

from muaudit import packaged
from muaudit.benchmark.spec import load_benchmark_spec
from muaudit.errors import ConfigError


def test_packaged_specs_and_their_recipes_resolve_from_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert packaged.names("spec") == ["digits-competition", "digits-deepunlearn", "digits-small", "digits-ulira"]
    for name in packaged.names("spec"):
        spec = load_benchmark_spec(name)
        assert spec.recipe == packaged.RECIPES_DIR / "digits-mlp.toml" and spec.name == name


def test_a_file_wins_over_a_packaged_name_and_a_spec_recipe_is_found_beside_the_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits-mlp.toml").write_text("")
    assert packaged.resolve("recipe", "digits-mlp.toml").resolve() == tmp_path / "digits-mlp.toml"
    assert packaged.resolve("recipe", "digits-mlp") == packaged.RECIPES_DIR / "digits-mlp.toml"
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mine.toml").write_text("")
    assert packaged.resolve("recipe", "mine.toml", tmp_path / "specs") == tmp_path / "specs" / "mine.toml"


@pytest.mark.parametrize("kind, value, message", [
    ("spec", "benchmarks/specs/digits-small.toml", "benchmark spec benchmarks/specs/digits-small.toml does not exist: "
     "not a file, and not a packaged benchmark spec (digits-competition, digits-deepunlearn, digits-small, digits-ulira)"),
    ("recipe", "nope", "recipe nope does not exist: not a file, and not a packaged recipe (cifar10-fast, "
     "cifar10-resnet18, cifar10-wrn16-4, digits-cnn, digits-mlp, digits-mlp-ulira, wine-mlp)"),
    ("recipe", "", "Expected a recipe path or packaged name, got ''"),
])
def test_a_missing_path_lists_the_packaged_names(tmp_path, monkeypatch, kind, value, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        packaged.resolve(kind, value)
    assert str(e.value) == message
