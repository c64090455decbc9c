"""The input adapter as a torch layer (its own module: :mod:`muaudit.targets.adapter` needs no torch)."""

from __future__ import annotations

from torch import nn

from muaudit.targets.adapter import InputAdapter


class AdapterModule(nn.Module):
    """:meth:`InputAdapter.transform` as a parameter-free first layer (for training through it)."""

    def __init__(self, adapter: InputAdapter):
        super().__init__()
        self.adapter = adapter

    def forward(self, x):
        return self.adapter.transform(x)
