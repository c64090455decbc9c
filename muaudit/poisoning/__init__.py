"""Poisoning-based unlearning audits (Pawelczyk et al., *Machine Unlearning Fails to Remove Data
Poisoning Attacks*, ICLR 2025).

Poison the training split, train the original, unlearn the poisons (forget set = the poisons),
retrain without them, score all three and report the efficacy
``(T_init - T_unl) / (T_init - T_retrain)`` with the power of the test. Poisons (registry ``POISONS``):
``gaussian`` (canaries scored with GUS), ``backdoor``, ``gradient-matching``, ``label-flip``,
``gradient-canceling``, ``interclass``. See ``docs/poisoning.md``.

Example:
    One seed of Gaussian canaries against GD on the tiny digits recipe of the doctest setup
    (``conftest.py``; the default recipe is ``shadow_models/digits-mlp.toml``):

    >>> from muaudit.pool.spec import load_spec
    >>> attack, runs = run_protocol("gaussian", load_spec(recipe), methods=["gd"], seeds=1, budget=0.1)
    >>> summary = summarize_method(attack, runs, "gd")
    >>> attack.name, len(runs), "efficacy" in summary
    ('gaussian', 1, True)
"""

from muaudit.poisoning.base import (POISONS, PoisonAttack, PoisonConfig, PoisonContext, PoisonError, PoisonSet,
                                    Scores, poison_names, get_poison, load_record, register_poison, save_record)
from muaudit.poisoning.gaussian import GaussianConfig, gus, gus_readout, loss_directions
from muaudit.poisoning.protocol import SeedRun, loss_mia, run_protocol
from muaudit.poisoning.report import summarize_method
from muaudit.poisoning.stats import efficacy, efficacy_summary, paired_test

__all__ = ["POISONS", "GaussianConfig", "PoisonAttack", "PoisonConfig", "PoisonContext", "PoisonError", "PoisonSet",
           "Scores", "SeedRun", "poison_names", "efficacy", "efficacy_summary", "get_poison", "gus", "gus_readout",
           "load_record", "loss_directions", "loss_mia", "paired_test", "register_poison", "run_protocol",
           "save_record", "summarize_method"]
