"""muaudit: attack-first privacy auditing for machine unlearning.

The pipeline is ``data -> training -> pool (HDF5) -> signals -> attacks -> metrics -> report``;
each stage is a sub-package. See ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from muaudit.errors import MuauditError  # noqa: E402

__all__ = ["MuauditError", "__version__"]
