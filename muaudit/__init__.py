"""muaudit: attack-first privacy auditing for machine unlearning.

The pipeline is ``data -> training -> pool (HDF5) -> signals -> attacks -> metrics -> report``;
each stage is a sub-package. See ``docs/`` for the user guide.

The Python entry point of an audit is :func:`audit_checkpoint` (``muaudit.jobs.checkpoint``):
``muaudit.audit_checkpoint(target, forget, pool)`` with paths, an ``nn.Module`` or a logits array,
and an index array; it returns the results dict of ``muaudit lira``.
"""

__version__ = "0.1.0"

from muaudit.errors import MuauditError  # noqa: E402

__all__ = ["MuauditError", "__version__", "audit_checkpoint"]


def __getattr__(name):
    """Lazy top-level entry points: ``import muaudit`` stays light (no torch until used)."""
    if name == "audit_checkpoint":
        from muaudit.jobs.checkpoint import audit_checkpoint

        return audit_checkpoint
    raise AttributeError(f"module 'muaudit' has no attribute {name!r}")


def __dir__():
    """The lazy entry points too, so ``dir(muaudit)`` and tab completion show the public API."""
    return sorted(set(globals()) | set(__all__))
