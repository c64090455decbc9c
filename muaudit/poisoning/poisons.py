"""Importing this module registers every built-in attack (one module per family)."""

from muaudit.poisoning import gaussian, indiscriminate, interclass, targeted  # noqa: F401
