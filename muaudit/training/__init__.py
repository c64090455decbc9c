"""Training: one recipe, two engines (sequential and batched ensemble), eval-mode prediction."""

from muaudit.training.device import select_device
from muaudit.training.engine import ENGINES, choose_engine, train_models
from muaudit.training.ensemble import supports_ensemble, train_ensemble
from muaudit.training.predict import predict_logits
from muaudit.training.recipe import TrainRecipe
from muaudit.training.sequential import fit_one, train_sequential

__all__ = ["ENGINES", "TrainRecipe", "choose_engine", "fit_one", "predict_logits", "select_device",
           "supports_ensemble", "train_ensemble", "train_models", "train_sequential"]
