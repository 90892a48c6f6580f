"""A trained row saves as a bundle and loads back to identical recommendations."""

import numpy as np
import pandas as pd
import pytest

import hncf
from hncf.data import IdMap, user_item_csr
from hncf.data.synthetic import synthetic_interactions
from hncf.evaluation import top_k_items
from hncf.experiments.ncf import run_ncf
from hncf.models.hncf import HNCFConfig, build_hncf
from hncf.serving.bundle import UserItemRecommender, save_bundle
from hncf.training import make_score_fn


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ncf")
    inter = synthetic_interactions(n_users=30, n_items=200, n_ratings=500, seed=4)
    report = run_ncf(dataset="synthetic", preset="tiny", out_dir=out, seed=0, protocols=("loo",), progress=False,
                     interactions=inter)
    return out, report


def test_every_trained_row_leaves_a_bundle_that_loads(tiny_run):
    out, report = tiny_run
    rows = report["protocols"]["loo"]["models"]
    trained = {label: r for label, r in rows.items() if "bundle" in r}
    assert set(trained) == set(rows) - {"Popularity"}
    rec = hncf.load(trained["NeuMF"]["bundle"])
    assert isinstance(rec, UserItemRecommender) and rec.meta["row"] == "NeuMF" and rec.meta["seed"] == 0
    user = rec.users.raw[3]
    top = rec.recommend_for_user(user, k=5)
    assert len(top) == 5 and top["score"].is_monotonic_decreasing
    seen = set(rec.items.decode(rec.seen[rec.users.encode([user])[0]].indices))
    assert not seen & set(top["item"])


def test_reload_gives_identical_recommendations_with_item_tables(tmp_path):
    n_users, n_items, dim = 12, 25, 6
    rng = np.random.default_rng(0)
    model = build_hncf(n_users, n_items, text_dim=dim, poster_dim=0, config=HNCFConfig(embedding_dim=4, hidden=(8,)),
                       variant="bert_ncf", seed=0)
    tables = {"text_vector": rng.normal(size=(n_items, dim)).astype("float32")}
    users, items = IdMap(np.arange(100, 100 + n_users), "user"), IdMap(np.arange(500, 500 + n_items), "item")
    seen = user_item_csr(rng.integers(0, n_users, 40), rng.integers(0, n_items, 40), n_users, n_items)
    info = pd.DataFrame({"item": items.raw, "title": [f"Movie {i}" for i in items.raw], "genres": "Drama"})
    before = UserItemRecommender(model, users, items, seen, tables, info)
    save_bundle(tmp_path / "b", model, users, items, seen, tables, info, meta={"row": "bert_ncf"})
    after = hncf.load(tmp_path / "b")
    for u in users.raw:
        pd.testing.assert_frame_equal(after.recommend_for_user(u, k=7), before.recommend_for_user(u, k=7))
    # The same top-k as ranking the model's own scores with training items excluded.
    expected = top_k_items(make_score_fn(model, item_features=tables), np.array([2]), n_items, 7, exclude_csr=seen)
    np.testing.assert_array_equal(after.recommend_for_user(users.raw[2], k=7)["item"],
                                  items.decode(expected.items[0]))
    assert after.recommend_for_user(users.raw[0], k=3)["title"].str.startswith("Movie").all()


def test_bad_bundles_and_unknown_ids_are_named(tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="not an hncf bundle: missing model.keras"):
        hncf.load(tmp_path)
    out, report = tiny_run
    rec = hncf.load(report["protocols"]["loo"]["models"]["GMF"]["bundle"])
    with pytest.raises(KeyError, match=r"unknown user\(s\) \[987654\]"):
        rec.recommend_for_user(987654)
