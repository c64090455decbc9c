"""A full disk never costs a committed model: builds on small tmpfs mounts at a sweep of sizes
fail with one clean error, leave a valid pool and no temporaries, and resume to the same arrays."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.verify import verify_pool

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount")),
                                 reason="mounting a tmpfs needs root (CI runs as root)")]

ERROR = re.compile(r"Error: no space left on device writing (\S+); the pool is intact at (\d+) models; free space and rerun")
RECIPE = '[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\nretrain = true'


def _groups(pool):
    return {g: pool.logits(group=g) for g in pool.groups if pool.groups[g].done.any()}


def _build_on_tmpfs(recipe, mnt, size_kib):
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mnt)], check=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "muaudit.cli.main", "pool", "build", str(recipe), "--out", str(mnt / "p")],
                          check=False, capture_output=True, text=True, env=env, timeout=300)


def _check_failed_build(r, mnt, ref, ref_groups) -> tuple[str, int]:
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out and "Exception ignored" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    found = ERROR.fullmatch(errors[0])
    assert found, errors[0]
    assert not [p for p in mnt.rglob("*") if p.name.endswith(".tmp")]  # temporaries removed
    n = int(found.group(2))
    pool_file = mnt / "p" / "pool.h5"
    if pool_file.exists():
        pool = Pool(pool_file)
        assert pool.n_done == n
        verify_pool(pool_file)  # every committed row is exactly what was computed
        done = np.flatnonzero(pool.done)
        np.testing.assert_array_equal(pool.logits(), ref[done])
        for g, rows in _groups(pool).items():
            np.testing.assert_array_equal(rows, ref_groups[g][pool.groups[g].done])
    else:
        assert n == 0
    return found.group(1), n


def test_full_disk_at_every_write_keeps_the_pool_and_resumes(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=8, hidden=512, extra=RECIPE)  # weights about as large as a model's rows
    ref_pool = Pool(build_pool(load_spec(recipe), tmp_path / "ref"))
    ref, ref_groups = ref_pool.logits(), _groups(ref_pool)
    need_kib = sum(p.stat().st_blocks * 512 for p in (tmp_path / "ref").rglob("*") if p.is_file()) // 1024
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    seen = set()
    for size in sorted({8, 48, 80} | {int(need_kib * f) for f in (0.25, 0.4, 0.55, 0.7, 0.85)}):
        try:
            r = _build_on_tmpfs(recipe, mnt, size)
            if r.returncode == 0:
                continue
            what, n = _check_failed_build(r, mnt, ref, ref_groups)
            seen.add("weights" if "weights" in what else f"pool, {'no' if n == 0 else 'some'} models done")
            shutil.copytree(mnt / "p", tmp_path / f"resume-{size}") if (mnt / "p").exists() else None
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        resumed = Pool(build_pool(load_spec(recipe), tmp_path / f"resume-{size}")).require_complete()
        np.testing.assert_array_equal(resumed.logits(), ref)
        for g, rows in _groups(resumed).items():
            np.testing.assert_array_equal(rows, ref_groups[g])
    # the sweep hit file creation, the weights and the rows of a partly built pool
    assert seen == {"weights", "pool, no models done", "pool, some models done"}, seen
