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
