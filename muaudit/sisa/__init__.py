"""SISA: exact unlearning by sharded, isolated, sliced, aggregated training (Bourtoule et al.,
IEEE S&P 2021, "Machine Unlearning"; github.com/cleverhans-lab/machine-unlearning).

A recipe's ``[sisa]`` section (``shards``, ``slices``, ``aggregation``) makes ``muaudit train``
build a SISA model (:func:`~muaudit.sisa.train.train_sisa`, kept with every shard's stage
checkpoints, :mod:`~muaudit.sisa.store`), ``muaudit pool build`` a pool of SISA shadows, and
``muaudit unlearn --method sisa`` retrain exactly the affected shards
(:func:`~muaudit.sisa.unlearn.unlearn_sisa`). The model is one ``nn.Module``
(:class:`~muaudit.sisa.model.SISAModel`), so every prediction and audit path takes it. See
``docs/sisa.md``.
"""

from muaudit.sisa.config import SisaConfig, partition, stage_epochs
from muaudit.sisa.model import SISAModel
from muaudit.sisa.train import SisaRun, train_sisa
from muaudit.sisa.unlearn import SisaUnlearnResult, unlearn_sisa

__all__ = ["SISAModel", "SisaConfig", "SisaRun", "SisaUnlearnResult", "partition", "stage_epochs", "train_sisa",
           "unlearn_sisa"]
