"""Protocol splits with their validation carve-out, ids encoded, test negatives sampled once and saved.

Every system that ranks items for users starts here: ``prepare_chrono`` (Microsoft Recommenders'
chronological 75/25) or ``prepare_loo`` (He et al.'s leave-one-out with 99 saved negatives). The
validation split is always carved from the training data (each user's latest training
interaction against 99 sampled negatives), never from the test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data import (
    IdMap,
    encode_interactions,
    load_test_negatives_if_valid,
    sample_test_negatives,
    save_test_negatives,
    user_item_csr,
)
from hncf.data.schema import ITEM, USER
from hncf.data.splits import chrono_ratio_split, filter_to_train, leave_one_out_split
from hncf.training import ValidationSet


@dataclass
class PreparedSplit:
    """Encoded train/test (+ validation) of one protocol."""

    users: IdMap
    items: IdMap
    train: pd.DataFrame  # what the models fit on (validation rows removed when validating)
    full_train: pd.DataFrame  # every training interaction: what evaluation masks
    test: pd.DataFrame
    validation: ValidationSet | None
    test_negatives: np.ndarray | None = None
    all_interactions: object = None  # CSR of every train and test interaction (what negatives avoid)

    @property
    def sizes(self) -> dict:
        """Counts for the report."""
        return {"n_users": len(self.users), "n_items": len(self.items), "n_train": len(self.full_train),
                "n_test": len(self.test)}

    def train_csr(self):
        """Every training interaction as a user x item CSR (what the final ranking and bundles exclude)."""
        return user_item_csr(self.full_train[USER], self.full_train[ITEM], len(self.users), len(self.items))

    def stage_train(self, stage: str) -> pd.DataFrame:
        """What a model of ``stage`` trains on: ``"selection"`` the training data minus the validation
        carve-out, ``"final"`` every training interaction."""
        if stage == "selection":
            return self.train
        if stage == "final":
            return self.full_train
        raise ValueError(f"unknown training stage {stage!r}; known: selection, final")

    def stage_csr(self, stage: str):
        """The interactions a ``stage`` model trains on, as a user x item CSR: what its negatives avoid.

        A selection model must be able to draw its held-out validation item as a negative, exactly as
        the final model can draw its test item: excluding every training interaction in both stages
        kept the validation items out of the selection model's negatives and flattered validation.
        """
        train = self.stage_train(stage)
        return user_item_csr(train[USER], train[ITEM], len(self.users), len(self.items))


def encode_split(train: pd.DataFrame, test: pd.DataFrame):
    """Drop test rows unseen in train, map ids to indices from train, and index every known interaction.

    Returns ``(users, items, train, test, all_csr)``.
    """
    if len(train) == 0:
        raise ValueError("the training split is empty: the dataset has no interactions to learn from")
    test = filter_to_train(test, train)
    users, items = IdMap(train[USER], "user"), IdMap(train[ITEM], "item")
    train, test = encode_interactions(train, users, items), encode_interactions(test, users, items)
    all_csr = user_item_csr(np.r_[train[USER], test[USER]], np.r_[train[ITEM], test[ITEM]], len(users), len(items))
    return users, items, train, test, all_csr


def carve_validation(full_train: pd.DataFrame, seed: int, all_csr) -> tuple[pd.DataFrame, ValidationSet]:
    """Each user's latest training interaction vs 99 sampled negatives; returns (the rest, validation)."""
    fit_part, val = leave_one_out_split(full_train)
    u = val[USER].to_numpy()
    negatives = sample_test_negatives(all_csr, u, n_neg=99, seed=seed + 1)
    return fit_part, ValidationSet(u, val[ITEM].to_numpy(), negatives)


def prepare_chrono(interactions: pd.DataFrame, seed: int) -> PreparedSplit:
    """The paper's split: chronological 75/25 per user, test rows filtered to train users and items."""
    train, test = chrono_ratio_split(interactions, 0.75)
    users, items, train, test, all_csr = encode_split(train, test)
    fit_part, val = carve_validation(train, seed, all_csr)
    return PreparedSplit(users, items, fit_part, train, test, val, all_interactions=all_csr)


def _saved_negatives(path: Path, meta: dict, test_users: np.ndarray) -> np.ndarray | None:
    """The negatives saved at ``path`` if they belong to this split; a corrupt file counts as absent."""
    # A corrupt file is named in a warning and deleted: resampled with the same seed, the same negatives.
    saved = load_test_negatives_if_valid(path)
    if saved is None:
        return None
    if saved.meta == meta and np.array_equal(saved.users, test_users):
        return saved.negatives
    return None


def prepare_loo(interactions: pd.DataFrame, seed: int, negatives_path: Path | None) -> PreparedSplit:
    """He et al.'s split: latest interaction per user held out, 99 test negatives sampled once and saved."""
    train, test = leave_one_out_split(interactions)
    users, items, train, test, all_csr = encode_split(train, test)
    test_users = test[USER].to_numpy()
    meta = {"seed": seed, "n_users": len(users), "n_items": len(items), "n_test": len(test)}
    negatives = _saved_negatives(negatives_path, meta, test_users)
    if negatives is None:
        negatives = sample_test_negatives(all_csr, test_users, n_neg=99, seed=seed)
        if negatives_path is not None:
            save_test_negatives(negatives_path, test_users, negatives, meta)
    fit_part, val = carve_validation(train, seed, all_csr)
    return PreparedSplit(users, items, fit_part, train, test, val, negatives, all_csr)
