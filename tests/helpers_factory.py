"""User model factories for tests (imported as ``tests.helpers_factory:make``)."""

from torch import nn

NOT_CALLABLE = 3


def make(input_shape, n_classes, *, width: int = 4):
    """A tiny MLP sized from the dataset: the factory names ``input_shape`` and ``n_classes``."""
    n_in = 1
    for d in input_shape:
        n_in *= d
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_classes))


def make_fixed(*, out: int = 3):
    """A factory that names neither ``input_shape`` nor ``n_classes``."""
    return nn.Linear(5, out)


def make_not_module(input_shape, n_classes):
    return "not a module"
