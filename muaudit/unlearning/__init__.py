"""Unlearning methods as pluggable model transforms.

``method(model, forget, retain, *, config, random_state) -> new model``; the input is never changed.
Built-in: the 18 methods of Deep Unlearn (FT, GA, SRL, NG+, MSG, CT, FCS, CFW, PRMQ, KDE, RNI, BT,
SalUn, SCRUB, FF, IU, CF-k, EU-k), ``retrain``, ``original``, and GD, NGD, SSD from the poisoning
study. See ``docs/methods.md`` for every method's source, algorithm, defaults and data.

Example:
    >>> import torch
    >>> from muaudit.unlearning import UnlearnData, run_unlearning
    >>> X, y = torch.randn(40, 8), torch.randint(0, 3, (40,))
    >>> model = torch.nn.Linear(8, 3)
    >>> res = run_unlearning("ng+", model, UnlearnData(X[:10], y[:10]), UnlearnData(X[10:], y[10:]), random_state=0)
    >>> res.model is model, type(res.model).__name__, res.cost["sample_gradients"] > 0
    (False, 'Linear', True)
"""

from muaudit.unlearning.base import (ENTRY_POINT_GROUP, METHODS, MethodConfig, UnlearnData, UnlearningMethod,
                                     get_method, load_entry_points, make_config, register_method)
from muaudit.unlearning.blocks import last_blocks, model_blocks
from muaudit.unlearning.cost import CostMeter, active_meter
from muaudit.unlearning.run import UnlearnResult, accuracy, budget_limit, run_unlearning, training_sample_gradients


def method_names() -> list[str]:
    """Names of every registered method (built-ins and plug-ins)."""
    import muaudit.unlearning.methods  # noqa: F401

    load_entry_points()
    return METHODS.names()


__all__ = ["ENTRY_POINT_GROUP", "METHODS", "CostMeter", "MethodConfig", "UnlearnData", "UnlearnResult",
           "UnlearningMethod", "accuracy", "active_meter", "budget_limit", "get_method", "last_blocks",
           "load_entry_points", "make_config", "method_names", "model_blocks", "register_method",
           "run_unlearning", "training_sample_gradients"]
