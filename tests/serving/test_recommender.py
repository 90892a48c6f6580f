"""Building a Recommender from files: MovieLens catalogue + ratings, the HNSW path, the serve command's errors."""

from __future__ import annotations

import numpy as np
import pytest

from hncf.models.content import HNSWIndex, l2_normalise
from hncf.serving.recommender import Recommender, build_recommender, load_catalog


def test_movielens_catalogue_with_ratings_blends_by_shared_ids(tmp_path, synthetic_release, tiny_text_encoder):
    data = synthetic_release("ml-latest-small", n_users=60, n_items=80, n_ratings=1500, seed=0)
    items, report = load_catalog(data / "movies.csv")
    assert report["format"] == "movielens" and items["item"].iloc[0] == "1"
    enc = tiny_text_encoder("preset", pooling="mean", normalize=True)
    rec = build_recommender(data / "movies.csv", ratings_dir=data, text_encoder=enc,
                            cache_dir=tmp_path / "cache", blend_weight=0.5, epochs=2, progress=False)
    cf = rec.collaborative
    assert cf is not None and cf.report["match_rate"] > 0.9  # same ids: nearly every rated movie links
    # The page's NCF comes from the shared rating stage: epoch by validation RMSE, then refit on all ratings.
    assert cf.report["best_epoch"] in (1, 2) and cf.report["refit"] is True and 0 < cf.report["val_rmse"] < 5
    liked = [s for s in rec.items["item"][cf.has_signal][:3]]
    blended = rec.recommend_from_liked(liked, k=5)
    plain = Recommender(rec.items, rec.vectors).recommend_from_liked(liked, k=5)
    assert len(blended) == 5 and not {s["id"] for s in blended} & set(liked)
    assert [s["score"] for s in blended] != [s["score"] for s in plain]  # the NCF term is in the ranking
    content_only = build_recommender(data / "movies.csv", text_encoder=enc,
                                     cache_dir=tmp_path / "cache", progress=False)
    assert content_only.collaborative is None
    assert [s["id"] for s in content_only.recommend_from_liked(liked, 5)] == [s["id"] for s in plain]


def test_hnsw_index_serves_content_only_requests():
    rng = np.random.default_rng(0)
    import pandas as pd

    vectors = l2_normalise(rng.normal(size=(500, 16)))
    items = pd.DataFrame({"item": [f"m{k}" for k in range(500)], "title": [f"T{k}" for k in range(500)],
                          "genres": "Dramas"})
    exact = Recommender(items, vectors)
    approx = Recommender(items, vectors, index=HNSWIndex(vectors, threads=1))
    for liked in (["m1"], ["m3", "m40", "m77"]):
        a = [s["id"] for s in approx.recommend_from_liked(liked, 10, exclude=["m2"])]
        e = [s["id"] for s in exact.recommend_from_liked(liked, 10, exclude=["m2"])]
        assert len(set(a) & set(e)) >= 9 and not set(a) & set(liked + ["m2"])


def test_serve_command_reports_user_errors(tmp_path, capsys):
    from hncf.cli import main

    assert main(["serve", "--catalog", str(tmp_path / "missing.csv")]) == 1
    assert "hncf: error:" in capsys.readouterr().err
    bad = tmp_path / "titles.csv"
    bad.write_text("id,name\n1,x\n")
    assert main(["serve", "--catalog", str(bad)]) == 1
    assert "unknown catalogue header" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve"])  # --catalog is required: a usage error
