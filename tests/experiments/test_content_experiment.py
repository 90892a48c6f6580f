"""``reproduce content`` end to end on a synthetic ml-latest-small release with a tiny sentence encoder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hncf.experiments.content import run_content, split_users


def test_split_users_is_a_seeded_partition():
    users = np.repeat(np.arange(1, 101), 3)
    a, b, c = split_users(users, seed=0)
    assert (len(a), len(b), len(c)) == (80, 10, 10)
    assert len(np.union1d(np.union1d(a, b), c)) == 100 and not np.intersect1d(a, b).size
    assert all(np.array_equal(x, y) for x, y in zip(split_users(users, 0), (a, b, c)))
    assert not np.array_equal(split_users(users, 1)[0], a)


def test_run_content_writes_its_report(tmp_path, synthetic_release, tiny_text_encoder):
    data = synthetic_release("ml-latest-small", n_users=80, n_items=120, n_ratings=2400, seed=0)
    enc = tiny_text_encoder("preset", pooling="mean", normalize=True)
    report = run_content(data_dir=data, text_encoder=enc, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out",
                         preset="tiny", seed=0, progress=False)
    for name in ("metrics.json", "results.md", "blend_weights.png", "training_curves.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["users"] == {"train": 64, "validation": 8, "test": 8}
    for model in ("ncf", "mf"):
        r = saved["rating"][model]
        assert 0 < r["mae"] <= r["rmse"] < 5
    assert saved["rating"]["ncf"]["gmf_item_embedding_max_change"] > 0  # GMF really trains
    # Both rating models: the epoch with the lowest validation RMSE, then a refit (the default).
    rating = saved["protocols"]["rating"]
    for model in ("ncf", "mf"):
        row = rating["models"][model]
        hist = row["history"]["val_rmse"]
        assert row["best_epoch"] == int(np.argmin(hist)) + 1 and row["best_val_rmse"] == pytest.approx(min(hist))
        assert row["refit"] is True and len(row["history"]["loss"]) == row["epochs_run"]
    # The validation ratings are carved from the training users' ratings, never from the test ratings:
    # fit + validation (what the refit trains on) and test together are exactly the training users' ratings.
    ratings = pd.read_csv(data / "ratings.csv")
    train_users = split_users(ratings["userId"].to_numpy(), seed=0)[0]
    assert rating["n_train"] + rating["n_test"] == ratings["userId"].isin(train_users).sum()
    assert saved["chosen_weights"]["ncf"] in (0.0, 0.5, 1.0)
    test = saved["new_users"]["test"]
    assert set(test) <= {"3", "5", "10"} and test
    for block in test.values():
        rows = block["rows"]
        assert {"popularity", "content", "fold_in_ncf", "fold_in_mf", "blend_ncf@0.5"} <= set(rows)
        for v in rows.values():
            assert 0.0 <= v["recall@10"] <= 1.0 and 0.0 <= v["ndcg@10"] <= 1.0
        # Weight 0 is content alone, weight 1 the fold-in alone (cold items then tie at the bottom).
        assert rows["blend_ncf@0.0"]["recall@10"] == pytest.approx(rows["content"]["recall@10"])
        # Pure collaborative scores cannot rank cold items (chance), or no test user liked one (NaN -> null).
        assert rows["fold_in_ncf"]["cold_auc"] in (None, pytest.approx(0.5))
    assert "protocols" in saved and "rating" in saved["protocols"]
    assert "Chosen blends" in (tmp_path / "out" / "results.md").read_text()
    assert report["wall_seconds"] > 0


def test_run_content_without_refit_keeps_the_selected_rating_models(tmp_path, synthetic_release, tiny_text_encoder):
    data = synthetic_release("ml-latest-small", n_users=60, n_items=80, n_ratings=1500, seed=1)
    enc = tiny_text_encoder("preset", pooling="mean", normalize=True)
    report = run_content(data_dir=data, text_encoder=enc, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out",
                         preset="tiny", seed=1, progress=False, refit=False, epochs=2)
    rating = report["protocols"]["rating"]
    assert report["run"]["refit"] is False and not rating["models"]["ncf"]["refit"]
    assert "refit" not in rating["split"]
    # (That the returned weights are the selected epoch's is checked in tests/pipeline/test_rating.py.)
    for model in ("ncf", "mf"):
        row = rating["models"][model]
        assert row["best_val_rmse"] == pytest.approx(min(row["history"]["val_rmse"]))
    assert "(no refit)" in (tmp_path / "out" / "results.md").read_text()
