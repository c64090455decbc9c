"""Doctest setup: the files the runners' examples (``muaudit/jobs``, ``muaudit.poisoning``) use.

Examples there run on a tiny digits pool built once per session (8 MLP shadows with 16 hidden
units, 3 epochs, and an ``[[unlearn]]`` FT entry with exact retrains), one checkpoint trained on
the whole training split, and a forget file of 100 positions. Their names in the examples:
``recipe``, ``pool_dir``, ``checkpoint``, ``forget_file`` and ``tmp`` (a fresh folder per example).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.kit import digits_mlp_sections

# Commands in tests build tiny pools: in this process (no worker start-up per command; the worker
# processes have their own tests, tests/test_executor_local.py), and without progress lines in
# CliRunner's output (tests/test_progress_log.py sets its own interval).
os.environ.setdefault("MUAUDIT_WORKERS", "1")
os.environ.setdefault("MUAUDIT_PROGRESS_INTERVAL", "3600")

TINY_RECIPE = digits_mlp_sections(hidden=16, epochs=3, batch_size=128) + """[pool]
n_models = 8
seed = 3
engine = "sequential"
[[unlearn]]
method = "ft"
retrain = true
[unlearn.config]
epochs = 1
"""


@pytest.fixture(scope="session")
def tiny_audit_files(tmp_path_factory) -> dict:
    """Recipe, built pool, checkpoint and forget file of the runners' doctests."""
    import torch

    from muaudit.jobs.train import run_train
    from muaudit.pool import build_pool, load_spec

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only spins (see tests/conftest.py)
    try:
        root = tmp_path_factory.mktemp("doctest-files")
        recipe = root / "tiny.toml"
        recipe.write_text(TINY_RECIPE)
        build_pool(load_spec(recipe), root / "pool")
        run_train(recipe, root / "original.pt", random_state=1)
        np.save(root / "forget.npy", np.arange(0, 200, 2))
    finally:
        torch.set_num_threads(before)
    return {"recipe": recipe, "pool_dir": root / "pool", "checkpoint": root / "original.pt",
            "forget_file": root / "forget.npy"}


@pytest.fixture(autouse=True)
def _runner_doctest_files(request, doctest_namespace):
    """Give the runners' doctests their files (built only when such a doctest runs)."""
    from _pytest.doctest import DoctestItem

    item = request.node
    if not isinstance(item, DoctestItem) or not item.name.startswith(("muaudit.jobs.", "muaudit.poisoning")):
        yield
        return
    import torch

    doctest_namespace.update(request.getfixturevalue("tiny_audit_files"))
    doctest_namespace["tmp"] = request.getfixturevalue("tmp_path")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
