"""Files where users expect them: no lock file after a build, outputs only where asked."""

import os

import pytest

from muaudit.pool import build_pool, load_spec
from muaudit.pool.store import pool_lock

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_finished_build_leaves_no_lock_file(tiny_recipe, tmp_path):
    build_pool(load_spec(tiny_recipe(n_models=2, epochs=1)), tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["pool.h5"]


def test_the_lock_file_lives_only_while_held(tmp_path):
    path = tmp_path / "pool.h5"
    with pool_lock(path):
        assert (tmp_path / "pool.h5.lock").read_text() == str(os.getpid())
    assert not (tmp_path / "pool.h5.lock").exists()
    with pool_lock(path):  # and can be taken again
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_report_of_several_folders_writes_the_page_in_the_current_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from muaudit.cli.main import cli
    from tests.test_report import audit_folder

    a, b = audit_folder(tmp_path / "a", seed=0), audit_folder(tmp_path / "b", seed=1)
    before = {p: sorted(x.name for x in p.iterdir()) for p in (a, b)}
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = CliRunner().invoke(cli, ["report", str(a), str(b), "--html"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith("HTML report: report.html") and (work / "report.html").is_file()
    assert {p: sorted(x.name for x in p.iterdir()) for p in (a, b)} == before  # nothing written into A or B
    r = CliRunner().invoke(cli, ["report", str(a), str(b), "--html", "--out", str(tmp_path / "pages" / "ab.html")])
    assert r.exit_code == 0 and (tmp_path / "pages" / "ab.html").is_file()
    assert CliRunner().invoke(cli, ["report", str(a), "--html"]).exit_code == 0
    assert (a / "report.html").is_file()  # one folder: its own page, beside its results


def test_dir_of_the_package_shows_the_public_api():
    import subprocess
    import sys

    code = "import muaudit, sys; print(sorted(set(muaudit.__all__) - set(dir(muaudit)))); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "False"]  # every name of __all__ in dir(), and still no torch on import
