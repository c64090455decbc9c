"""Importing this module registers every built-in method (one module per family)."""

from muaudit.unlearning import baselines, distill, lastk, reinit, saliency  # noqa: F401
