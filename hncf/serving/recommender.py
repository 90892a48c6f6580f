"""A loaded NCF + SBERT hybrid you can ask: suggestions from liked titles, their top genres, title search.

:class:`Recommender` holds the catalogue, its sentence embeddings and optionally a collaborative part (a
rating model folded in per request). It is what the web page calls and what a notebook can use directly:

    rec = build_recommender("netflix_titles.csv", ratings_dir="ml-latest-small")
    rec.recommend_from_liked(["s1", "s42"], k=5)

Titles linked to the ratings get ``(1 - w) * z(content) + w * z(NCF fold-in)``; the others (and every title
when there are no ratings) rank on content alone (see :func:`hncf.models.rating.blend_scores`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.schema import GENRES, ITEM, TITLE, YEAR
from hncf.models.content import ExactIndex, l2_normalise, top_k, user_vector
from hncf.models.rating import blend_scores

ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class UnknownItemError(ValueError):
    """An id that is malformed or not in the catalogue (the page answers 400)."""


@dataclass
class CollaborativePart:
    """A fold-in model over its own item space and the catalogue's link into it.

    ``fold_in.scores(liked_cf_indices, items=cf_indices)`` scores the given items of that space;
    ``cf_index[j]`` is catalogue item ``j``'s index in it, or -1 when the title has no ratings behind it.
    """

    fold_in: object
    cf_index: np.ndarray
    report: dict | None = None

    @property
    def has_signal(self) -> np.ndarray:
        """Catalogue items the collaborative model can score."""
        return self.cf_index >= 0


class Recommender:
    """Suggestions from liked catalogue ids (content, blended with a folded-in NCF where linked).

    ``items`` needs ``item`` (stable string ids), ``title``, ``genres`` ("|"-joined) and optionally
    ``description``, ``year``, ``type``. ``item_vectors`` are the titles' unit-length sentence embeddings.
    ``index`` replaces exact search for content-only requests (e.g. :class:`hncf.models.content.HNSWIndex`).
    """

    def __init__(self, items: pd.DataFrame, item_vectors: np.ndarray, collaborative: CollaborativePart | None = None,
                 blend_weight: float = 0.5, index=None, info: dict | None = None):
        if len(items) != len(item_vectors):
            raise ValueError(f"{len(items)} items but {len(item_vectors)} vectors")
        if not 0.0 <= blend_weight <= 1.0:
            raise ValueError(f"blend_weight must lie in [0, 1], got {blend_weight}")
        self.items = items.reset_index(drop=True).copy()
        self.items[ITEM] = self.items[ITEM].astype(str)
        if self.items[ITEM].duplicated().any():
            raise ValueError(f"repeated item id(s): {self.items[ITEM][self.items[ITEM].duplicated()].tolist()[:5]}")
        self.vectors = l2_normalise(item_vectors)
        self.collaborative = collaborative
        self.blend_weight = float(blend_weight)
        self.index = index if index is not None else ExactIndex(self.vectors)
        self.info = info or {}
        self._pos = pd.Index(self.items[ITEM])
        self._genres = [g.split("|") if g else [] for g in self.items[GENRES].fillna("").astype(str)]
        self._titles_lower = self.items[TITLE].astype(str).str.lower()
        # A fixed, genre-diverse first page: one title per genre in turn, in a seeded order.
        order = np.random.default_rng(0).permutation(len(self.items))
        first = pd.Series([g[0] if g else "" for g in self._genres]).iloc[order]
        self._starter = order[np.argsort(first.groupby(first).cumcount().to_numpy(), kind="stable")]

    def __len__(self) -> int:
        return len(self.items)

    # -- ids ---------------------------------------------------------------------------------------
    def positions(self, ids) -> np.ndarray:
        """Catalogue positions of ``ids``; :class:`UnknownItemError` names the first malformed or unknown id."""
        ids = [str(i).strip() for i in ids]
        for i in ids:
            if not ID_RE.match(i):
                raise UnknownItemError(f"malformed item id {i[:80]!r} (expected letters, digits, '_', '-', '.')")
        pos = self._pos.get_indexer(ids) if ids else np.zeros(0, np.int64)
        if (pos < 0).any():
            bad = ids[int(np.flatnonzero(pos < 0)[0])]
            raise UnknownItemError(f"unknown item id {bad!r}: not in the catalogue")
        return np.asarray(pos, dtype=np.int64)

    def has(self, item_id: str) -> bool:
        """Whether ``item_id`` is in the catalogue."""
        return str(item_id) in self._pos

    # -- scoring -------------------------------------------------------------------------------------
    def scores(self, liked_pos: np.ndarray) -> np.ndarray:
        """The blended score of every catalogue item for a visitor who liked ``liked_pos``."""
        content = self.vectors @ user_vector(self.vectors, liked_pos)
        cf = self.collaborative
        if cf is None or self.blend_weight == 0.0:
            return content
        linked = cf.cf_index[liked_pos]
        linked = linked[linked >= 0]
        if len(linked) == 0:
            return content  # nothing collaborative to fold in from: content decides
        signal = cf.has_signal
        full = np.zeros(len(self.items), dtype=np.float64)
        # Only the linked titles are scored: on Netflix that is 895 of ml-latest-small's 9,742 movies.
        full[signal] = cf.fold_in.scores(np.unique(linked), items=cf.cf_index[signal])
        return blend_scores(content, full, self.blend_weight, cf.has_signal)

    def _row(self, j: int, score: float | None) -> dict:
        r = self.items.iloc[j]
        out = {"id": r[ITEM], "title": str(r[TITLE]), "score": None if score is None else float(score),
               "genres": list(self._genres[j])}
        for key in ("description", "type"):
            if key in self.items.columns:
                out[key] = "" if pd.isna(r[key]) else str(r[key])
        if YEAR in self.items.columns:
            out["year"] = None if pd.isna(r[YEAR]) else int(r[YEAR])
        return out

    def recommend_from_liked(self, liked_ids, k: int = 5, exclude=()) -> list[dict]:
        """The ``k`` best titles for a visitor who liked ``liked_ids``, never liked nor in ``exclude``.

        With no liked title yet, a fixed genre-diverse starter list (minus ``exclude``). Each suggestion
        is ``{"id", "title", "score", "genres", "description", ...}``. Unknown ids raise
        :class:`UnknownItemError`.
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        liked = self.positions(liked_ids)
        banned = np.union1d(liked, self.positions(exclude))
        if len(liked) == 0:
            keep = self._starter[~np.isin(self._starter, banned)][:k]
            return [self._row(int(j), None) for j in keep]
        cf_active = self.collaborative is not None and self.blend_weight > 0 and \
            (self.collaborative.cf_index[liked] >= 0).any()
        if not cf_active and not isinstance(self.index, ExactIndex):
            scores, idx = self.index.search(user_vector(self.vectors, liked), min(len(self), k + len(banned)))
            keep = (idx[0] >= 0) & ~np.isin(idx[0], banned)
            return [self._row(int(j), s) for j, s in zip(idx[0][keep][:k], scores[0][keep][:k])]
        scores = self.scores(liked)
        return [self._row(int(j), scores[j]) for j in top_k(scores, k, exclude=banned)]

    def top_genres(self, liked_ids, n: int = 5) -> list[dict]:
        """The ``n`` genres most frequent among the liked titles: ``[{"genre", "count"}]``, most first, then by name."""
        liked = self.positions(liked_ids)
        counts = pd.Series([g for j in liked for g in self._genres[j]], dtype=object).value_counts()
        if counts.empty:
            return []
        frame = pd.DataFrame({"genre": counts.index, "count": counts.to_numpy()})
        frame = frame.sort_values(["count", "genre"], ascending=[False, True], kind="stable").head(int(n))
        return [{"genre": str(g), "count": int(c)} for g, c in zip(frame["genre"], frame["count"])]

    def search(self, query: str, limit: int = 10) -> list[dict]:
        """Titles containing ``query`` (case-insensitive, plain text, not a pattern), titles starting with it first."""
        q = str(query or "").strip().lower()[:200]
        if not q:
            return []
        hit = self._titles_lower.str.contains(q, regex=False).to_numpy()
        idx = np.flatnonzero(hit)
        starts = self._titles_lower.iloc[idx].str.startswith(q).to_numpy()
        idx = idx[np.argsort(~starts, kind="stable")][: int(limit)]
        return [self._row(int(j), None) for j in idx]


# ---------------------------------------------------------------------------
# Building one from files
# ---------------------------------------------------------------------------


def load_catalog(path) -> tuple[pd.DataFrame, dict]:
    """A catalogue file as ``items`` + report: Netflix's ``netflix_titles.csv`` or MovieLens' ``movies.csv``."""
    from hncf.data.netflix import load_netflix_titles

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (catalogue: netflix_titles.csv or a MovieLens movies.csv)")
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        header = f.readline().strip().split(",")
    if "show_id" in header:
        cat = load_netflix_titles(path)
        return cat.items, {"format": "netflix", **cat.report}
    if header[:3] == ["movieId", "title", "genres"]:
        from hncf.data.movielens import parse_year

        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        items = pd.DataFrame({ITEM: raw["movieId"].str.strip(), TITLE: raw["title"],
                              YEAR: parse_year(raw["title"]), GENRES: raw["genres"].replace("(no genres listed)", ""),
                              "description": ""})
        return items, {"format": "movielens", "rows": len(items)}
    raise ValueError(f"{path}: unknown catalogue header {header}; expected netflix_titles.csv "
                     f"(show_id, type, title, ...) or MovieLens movies.csv (movieId, title, genres)")


def _catalog_texts(items: pd.DataFrame) -> pd.Series:
    from hncf.data.netflix import catalog_texts

    return catalog_texts(items.assign(description=items.get("description", "")))


def train_collaborative(items: pd.DataFrame, catalog_format: str, ratings_dir, seed: int = 0, epochs: int = 20,
                        progress: bool = True, refit: bool = True) -> CollaborativePart:
    """Train the paper's NCF rating model on a MovieLens folder and link the catalogue to its movies.

    Netflix titles are linked by normalised title + year (:func:`hncf.data.netflix.link_to_movielens`);
    a MovieLens catalogue shares the ids. The epoch is selected by the RMSE on 10% of the ratings held
    out at random (early stopping after 3 epochs without improvement), then, with ``refit``, the model
    served is trained on all ratings for that many epochs (the shared select-then-refit stage).
    """
    from hncf.data.movielens import read_movielens_dir
    from hncf.data.netflix import link_to_movielens
    from hncf.models.rating import NCFFoldIn, build_ncf_rating
    from hncf.pipeline.rating import RatingRows, fit_rating_model
    from hncf.training import TrainConfig

    d = Path(ratings_dir).expanduser()
    if not (d / "ratings.csv").is_file():
        raise FileNotFoundError(f"{d / 'ratings.csv'} not found: --ratings expects an ml-latest-small style folder")
    ml = read_movielens_dir("ml-latest-small", d)
    inter = ml.interactions
    ml_items = np.unique(inter[ITEM].to_numpy())
    ml_users = np.unique(inter["user"].to_numpy())
    u = np.searchsorted(ml_users, inter["user"].to_numpy())
    i = np.searchsorted(ml_items, inter[ITEM].to_numpy())
    lo, hi = float(inter["rating"].min()), float(inter["rating"].max())
    r = inter["rating"].to_numpy()
    val = np.random.default_rng(seed).random(len(inter)) < 0.1
    t0 = time.perf_counter()
    model, record = fit_rating_model(lambda: build_ncf_rating(len(ml_users), len(ml_items), seed=seed),
                                     RatingRows(u[~val], i[~val], r[~val]), RatingRows(u[val], i[val], r[val]),
                                     TrainConfig(epochs=epochs, batch_size=1024, learning_rate=2e-3, seed=seed,
                                                 patience=3), lo, hi, refit=refit)
    if catalog_format == "netflix":
        links, report = link_to_movielens(items, ml.items, inter)
    else:
        ids = pd.to_numeric(items[ITEM], errors="coerce")
        links = pd.DataFrame({ITEM: items[ITEM], "ml_item": ids})
        links = links[links["ml_item"].isin(ml_items)]
        report = {"linked": int(len(links)), "catalog_titles": int(len(items)),
                  "match_rate": float(len(links) / max(len(items), 1))}
    cf_index = np.full(len(items), -1, dtype=np.int64)
    pos = pd.Index(items[ITEM].astype(str)).get_indexer(links[ITEM].astype(str))
    cf_index[pos] = np.searchsorted(ml_items, links["ml_item"].to_numpy(dtype=np.int64))
    report.update({"ratings": int(len(inter)), "best_epoch": record["best_epoch"], "refit": record["refit"],
                   "val_rmse": record["best_val_rmse"], "train_seconds": time.perf_counter() - t0})
    if progress:
        print(f"[hncf] NCF trained on {len(inter):,} ratings in {report['train_seconds']:.0f} s; "
              f"{report['linked']:,} of {len(items):,} titles linked ({100 * report['match_rate']:.1f}%)", flush=True)
    return CollaborativePart(fold_in=NCFFoldIn(model), cf_index=cf_index, report=report)


def build_recommender(catalog, ratings_dir=None, text_encoder=None, cache_dir=None, blend_weight: float = 0.5,
                      index: str = "exact", seed: int = 0, epochs: int = 20, progress: bool = True) -> Recommender:
    """Load a catalogue, embed it (cached) and, with ``ratings_dir``, train and link the NCF part.

    ``text_encoder``: a :class:`hncf.encoders.TextEncoder`, a spec for ``load_text_encoder`` (loaded with mean
    pooling + L2), or None for the offline MiniLM. ``index``: ``"exact"`` or ``"hnsw"``.
    """
    from hncf.encoders.cache import FeatureCache
    from hncf.encoders.text import load_text_encoder
    from hncf.models.content import HNSWIndex, embed_items

    items, report = load_catalog(catalog)
    encoder = text_encoder
    if encoder is None or isinstance(encoder, (str, Path)):
        if encoder is None:
            from hncf.experiments.quick import minilm_path

            try:
                encoder = minilm_path()
            except ImportError as e:
                raise ValueError(f"no --text-encoder given and the offline MiniLM is not installed ({e})") from None
        encoder = load_text_encoder(str(encoder), pooling="mean", normalize=True)
    cache = FeatureCache(cache_dir or (Path.home() / ".cache" / "hncf" / "features"))
    texts = _catalog_texts(items)
    vectors = embed_items(encoder, items[ITEM].to_numpy(), texts.to_numpy(), cache=cache, progress=progress)
    collaborative = None
    if ratings_dir is not None:
        collaborative = train_collaborative(items, report["format"], ratings_dir, seed=seed, epochs=epochs,
                                            progress=progress)
    if index not in ("exact", "hnsw"):
        raise ValueError(f"index must be 'exact' or 'hnsw', got {index!r}")
    ann = HNSWIndex(vectors) if index == "hnsw" else None
    info = {"catalog": report, "encoder": encoder.name, "collaborative": None if collaborative is None
            else collaborative.report, "blend_weight": blend_weight if collaborative is not None else 0.0}
    return Recommender(items, vectors, collaborative, blend_weight=blend_weight, index=ann, info=info)


def picker_widget(recommender: Recommender, k: int = 5):
    """The page's loop as an ipywidgets picker for notebooks: tick titles, press the button, see the next ``k``.

    Same logic as the web page: ticks accumulate, titles already shown are not shown again, and the
    top-5 genre table follows the ticks. Returns the widget (display it).
    """
    from html import escape

    import ipywidgets as w

    state = {"liked": [], "shown": []}
    boxes = w.VBox()
    table = w.HTML()
    button = w.Button(description="Submit", button_style="primary")

    def show():
        page = recommender.recommend_from_liked(state["liked"], k, exclude=state["shown"]) or \
            recommender.recommend_from_liked(state["liked"], k)
        boxes.children = [w.Checkbox(value=False, description=f"{s['title']} ({', '.join(s['genres'])})",
                                     layout=w.Layout(width="95%"), indent=False) for s in page]
        boxes.ids = [s["id"] for s in page]
        rows = "".join(f"<tr><td>{escape(g['genre'])}</td><td>{g['count']}</td></tr>"
                       for g in recommender.top_genres(state["liked"], 5))
        table.value = f"<table id='top-genres'><tr><th>Genre</th><th>Count</th></tr>{rows}</table>"

    def submit(_):
        state["liked"] += [i for i, b in zip(boxes.ids, boxes.children) if b.value]
        state["shown"] += boxes.ids
        show()

    button.on_click(submit)
    show()
    return w.VBox([w.HTML("<b>Select the titles you like and submit</b>"), boxes, button, table])


__all__ = ["CollaborativePart", "Recommender", "picker_widget", "UnknownItemError", "build_recommender", "load_catalog",
           "train_collaborative"]
