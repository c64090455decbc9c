"""Audit runners: load a pool, a target and index files, run the attacks, write a results folder."""

from muaudit.jobs.inputs import AuditData, find_pools, resolve_pool, target_logits
from muaudit.jobs.lira import run_lira

__all__ = ["AuditData", "find_pools", "resolve_pool", "run_lira", "target_logits"]
