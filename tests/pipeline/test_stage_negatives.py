"""Each training stage draws its negatives from that stage's own training data.

The selection model is validated on each user's held-out latest training interaction; the final
model is tested on the test item. Both held-out items must be drawable as training negatives of
their stage, or validation is flattered against the test (the leak these tests guard against).
The checks run through the functions that train and score a row (``fit_row``, ``fit_variant``,
``fit_bert_rs``), spying on the batches each stage really trains on.
"""

import numpy as np
import pandas as pd
import pytest

from hncf.data.schema import ITEM, USER
from hncf.data.synthetic import synthetic_interactions
from hncf.pipeline import prepare_loo
from hncf.pipeline import selection


@pytest.fixture(scope="module")
def split():
    inter = synthetic_interactions(n_users=30, n_items=200, n_ratings=400, seed=3)
    return prepare_loo(inter.assign(review=np.arange(len(inter))), 0, None)  # each rating is also a review


def spy_on_stages(monkeypatch, module):
    """Patch ``module.select_then_refit`` so every stage's training batches are kept, keyed by stage."""
    seen = {}
    real = selection.select_then_refit

    def spying(build, *args, **kwargs):
        def build_and_keep(stage):
            model, data = build(stage)
            seen[stage] = data
            return model, data
        return real(build_and_keep, *args, **kwargs)

    monkeypatch.setattr(module, "select_then_refit", spying)
    return seen


def assert_each_stage_can_draw_its_held_out_items(seen, split):
    val = split.validation
    assert set(seen) == {"selection", "final"}
    selection_excluded = np.asarray(seen["selection"].exclude[val.users, val.items]).ravel()
    assert not selection_excluded.any(), (
        f"{int(selection_excluded.sum())} validation items are never drawn as the selection model's negatives")
    # Every training interaction of the stage stays excluded (a positive is never a negative) ...
    sel = split.stage_train("selection")
    assert np.asarray(seen["selection"].exclude[sel[USER], sel[ITEM]]).all()
    full = split.full_train
    assert np.asarray(seen["final"].exclude[full[USER], full[ITEM]]).all()
    # ... and the final model, like the selection one, can draw the item it is scored on.
    assert not np.asarray(seen["final"].exclude[split.test[USER], split.test[ITEM]]).any()
    # The negatives really drawn in the selection stage include validation items.
    drawn = []
    for epoch in range(5):
        users, items, labels = seen["selection"].epoch_arrays(epoch)
        drawn.append(pd.DataFrame({USER: users[labels == 0], ITEM: items[labels == 0]}))
    drawn = pd.concat(drawn).drop_duplicates()
    held = pd.DataFrame({USER: val.users, ITEM: val.items})
    assert len(held.merge(drawn)) > 0


def test_split_stage_data():
    inter = synthetic_interactions(n_users=20, n_items=300, n_ratings=400, seed=1)
    s = prepare_loo(inter, 0, None)
    assert len(s.stage_train("selection")) == len(s.full_train) - len(s.validation.users)
    assert s.stage_csr("final").nnz == len(s.full_train)
    assert s.stage_csr("selection")[s.validation.users, s.validation.items].sum() == 0
    with pytest.raises(ValueError, match="unknown training stage 'test'"):
        s.stage_train("test")


def test_ncf_rows_draw_validation_items_as_selection_negatives(split, monkeypatch):
    from hncf.pipeline import baselines
    from hncf.training import TrainConfig

    seen = spy_on_stages(monkeypatch, baselines)
    spec = baselines.ModelSpec("GMF", "gmf", {"n_factors": 4}, TrainConfig(epochs=1, batch_size=256, n_neg=4))
    baselines.fit_row(spec, split, 0, None, False, {}, 0)
    assert_each_stage_can_draw_its_held_out_items(seen, split)


def test_hncf_rows_draw_validation_items_as_selection_negatives(split, monkeypatch):
    from hncf.experiments import hncf
    from hncf.experiments.hncf_paths import ItemFeatures

    seen = spy_on_stages(monkeypatch, hncf)
    preset = hncf.PRESETS["tiny"]
    texts = np.array([f"movie {i}" for i in range(len(split.items))], dtype=object)
    feats = ItemFeatures(texts=texts, text_vectors=None, poster_vectors=None, poster_mask=None)
    path = hncf.training_path("ncf", "cached", split, feats, preset, None, None, False, False)
    hncf.fit_variant(path, split, preset, 0, None, False, 0)
    assert_each_stage_can_draw_its_held_out_items(seen, split)


def test_bert_rs_rows_draw_validation_items_as_selection_negatives(split, monkeypatch):
    from hncf.experiments import bert_rs

    seen = spy_on_stages(monkeypatch, bert_rs)
    n_reviews = int(max(split.full_train["review"].max(), split.test["review"].max())) + 1
    vectors = np.random.default_rng(0).normal(size=(n_reviews, 6)).astype("float32")
    bert_rs.fit_bert_rs("deployable", split, vectors, None, bert_rs.PRESETS["tiny"], 0, None, False, 0, {}, False)
    assert_each_stage_can_draw_its_held_out_items(seen, split)
