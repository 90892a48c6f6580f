"""The real catalogue with the NCF part trained on ml-latest-small: the blend is really used on linked titles."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.real_data
def test_real_catalogue_blends_ncf_on_linked_titles(real_dataset):
    from hncf.experiments.quick import minilm_path
    from hncf.serving.recommender import Recommender, build_recommender

    catalog = real_dataset("netflix-titles") / "netflix_titles.csv"
    rec = build_recommender(catalog, ratings_dir=real_dataset("ml-latest-small"), text_encoder=minilm_path(),
                            blend_weight=0.5, epochs=5, progress=False)
    cf = rec.collaborative
    assert cf.report["linked"] == int(cf.has_signal.sum()) and 830 <= cf.report["linked"] <= 950
    items = rec.items.set_index("item")
    ids = rec.items["item"].to_numpy()
    # Three horror titles that are linked to MovieLens (Zombieland, The Ring, Carrie in this catalogue).
    horror = [i for i in ids[cf.has_signal] if "Horror Movies" in items.loc[i, "genres"]][:3]
    content_only = Recommender(rec.items, rec.vectors)
    liked = rec.positions(horror)
    blended, plain = rec.scores(liked), content_only.scores(liked)
    signal = cf.has_signal
    assert not np.allclose(blended[signal], (plain[signal] - plain.mean()) / plain.std())  # NCF moved them
    # Titles without a link are ranked by content alone (the blend only rescales their content score).
    np.testing.assert_allclose(blended[~signal], 0.5 * (plain[~signal] - plain.mean()) / plain.std(), rtol=1e-4,
                               atol=1e-6)
    top = rec.recommend_from_liked(horror, k=5)
    assert sum(any("Horror" in g for g in s["genres"]) for s in top) >= 3, [(s["title"], s["genres"]) for s in top]
    # Ticks without any link stay content-only end to end.
    unlinked = [i for i in ids[~signal] if "Horror Movies" in items.loc[i, "genres"]][:3]
    assert [s["id"] for s in rec.recommend_from_liked(unlinked, 5)] == \
        [s["id"] for s in content_only.recommend_from_liked(unlinked, 5)]
