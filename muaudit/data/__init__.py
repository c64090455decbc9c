"""Datasets (registry, canonical splits, fingerprints) and index-file validation."""

from muaudit.data.dataset import TEST, TRAIN, Dataset
from muaudit.data.indices import load_index_file, read_indices, split_forget, validate_indices
from muaudit.data.registry import DATASETS, load_dataset

__all__ = ["DATASETS", "Dataset", "TEST", "TRAIN", "load_dataset", "load_index_file", "read_indices", "split_forget",
           "validate_indices"]
