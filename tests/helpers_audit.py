"""The tiny audit kit of the CLI tests: built once per session by the ``tiny_audit_base`` fixture
(tests/conftest.py), copied into each module's own folder here."""

import shutil

from muaudit.models import load_checkpoint
from muaudit.pool import load_spec


def tiny_audit_kit(base, d):
    """Copy the session's tiny audit files into ``d``; return ``(spec, dataset, model)``."""
    shutil.copytree(base, d, dirs_exist_ok=True)
    spec = load_spec(d / "tiny.toml")
    return spec, spec.load_dataset(), load_checkpoint(d / "orig.pt")[0]
