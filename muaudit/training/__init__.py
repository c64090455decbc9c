"""Training: one recipe, two engines (sequential and batched ensemble), eval-mode prediction.

The names below are imported on first use: they need torch, which an audit of precomputed
logits never loads (a submodule such as :mod:`muaudit.training.views` can be read without it)."""

from muaudit.lazy import lazy_exports

_EXPORTS = {"select_device": "device", "ENGINES": "recipe", "choose_engine": "engine", "train_models": "engine",
            "supports_ensemble": "ensemble", "train_ensemble": "ensemble", "predict_logits": "predict",
            "TrainRecipe": "recipe", "fit_one": "sequential", "train_sequential": "sequential"}

__all__ = ["ENGINES", "TrainRecipe", "choose_engine", "fit_one", "predict_logits", "select_device",
           "supports_ensemble", "train_ensemble", "train_models", "train_sequential"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
