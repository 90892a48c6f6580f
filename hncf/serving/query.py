"""Ask a trained query recommender: a typed request -> ranked movies (titles, ids, scores).

A query bundle folder (written by ``reproduce query``) holds ``model.keras`` (the cached-path
model: text vector and mentioned movies in, one logit per movie out), ``catalogue.csv`` (output
order) and ``bundle.json`` (text encoder, pooling, sequence length, mention style). The request is
encoded with the same frozen encoder the model was trained on.

Movies in the request are recognised two ways and fed to the mention input (and shown as titles in
the text, as in training): ``@<ReDial id>`` tokens, and titles typed in plain text ("I loved Up and
Toy Story"), matched against the catalogue exactly (with the year), then forgiving case,
punctuation and a missing year (the most mentioned movie of that title wins). A one-word title
("Up", "Her") must be typed capitalised and not open the sentence, so ordinary words are not read as
movies. Longest matches win and never overlap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.redial import MENTION_RE, normalize_title, split_title_year

BUNDLE_JSON = "bundle.json"
_MAX_TITLE_WORDS = 12
_WORD = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9'&:.\-]*[A-Za-z0-9])?")


@dataclass
class QueryModel:
    """A loaded query bundle: the model, its catalogue, its settings and its text encoder."""

    model: object
    catalogue: pd.DataFrame
    meta: dict
    encoder: object
    folder: Path
    _titles: dict | None = None

    @property
    def titles(self) -> dict:
        """Normalised title (with and without year) -> catalogue index (the most mentioned on a clash)."""
        if self._titles is None:
            order = np.argsort(-self.catalogue["n_mentions"].to_numpy(), kind="stable")
            table = {}
            for i in order[::-1]:  # most mentioned written last, so it wins
                name = str(self.catalogue["name"].iloc[i])
                title, year = split_title_year(name)
                key = normalize_title(title)
                if not key:
                    continue
                table[key] = int(i)
                if year is not None:
                    table[f"{key} {year}"] = int(i)
            self._titles = table
        return self._titles


def save_query_bundle(folder, model, catalogue: pd.DataFrame, meta: dict) -> Path:
    """Write ``model.keras``, ``catalogue.csv`` and ``bundle.json`` into ``folder`` (atomically replaced)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        model.save(tmp / "model.keras")
        catalogue[["movie_id", "name", "n_mentions"]].to_csv(tmp / "catalogue.csv", index=False)
        (tmp / BUNDLE_JSON).write_text(json.dumps(meta, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_query_model(folder, text_encoder: str | None = None) -> QueryModel:
    """Load a query bundle (``text_encoder`` overrides the encoder path stored in it)."""
    import keras

    import hncf.models.query  # noqa: F401  (registers the model's classes before loading)
    from hncf.encoders.text import load_text_encoder

    folder = Path(folder)
    missing = [f for f in ("model.keras", "catalogue.csv", BUNDLE_JSON) if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a query model folder: missing {', '.join(missing)} "
                                "(write one with: python -m hncf reproduce query --out DIR)")
    meta = json.loads((folder / BUNDLE_JSON).read_text())
    catalogue = pd.read_csv(folder / "catalogue.csv", keep_default_na=False)
    model = keras.models.load_model(folder / "model.keras", safe_mode=True)
    spec = text_encoder or meta["text_encoder"]
    if not text_encoder and not Path(spec).exists() and "/" in spec:
        raise FileNotFoundError(f"the text encoder {spec} named in {folder / BUNDLE_JSON} does not exist here; "
                                "pass --text-encoder")
    encoder = load_text_encoder(spec, pooling=meta["text_pooling"], sequence_length=int(meta["sequence_length"]))
    return QueryModel(model, catalogue, meta, encoder, folder)


def _words(text: str) -> list:
    return [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]


def recognise_titles(text: str, titles: dict) -> list:
    """``[(start, end, catalogue index)]`` of catalogue titles typed in ``text``, longest first, no overlaps."""
    words = _words(text)
    keys = [normalize_title(w) for w, _, _ in words]
    found, used = [], np.zeros(len(words), bool)
    for n in range(min(_MAX_TITLE_WORDS, len(words)), 0, -1):
        for s in range(len(words) - n + 1):
            if used[s:s + n].any():
                continue
            parts = [k for k in keys[s:s + n] if k]
            if not parts:
                continue
            key = " ".join(parts)
            # A following "(1995)" or "1995" may name the year.
            year = None
            if s + n < len(words) and re.fullmatch(r"\(?\d{4}\)?", words[s + n][0]):
                year = words[s + n][0].strip("()")
            idx = titles.get(f"{key} {year}") if year else None
            end_word = s + n + (1 if idx is not None else 0)
            if idx is None:
                idx = titles.get(key)
            if idx is None:
                continue
            if n == 1:
                w = words[s][0]
                sentence_start = s == 0 or text[:words[s][1]].rstrip()[-1:] in ".!?"
                if not w[:1].isupper() or sentence_start or w == "I":
                    continue
            used[s:end_word] = True
            end = words[end_word - 1][2]
            if re.fullmatch(r"\d{4}", words[end_word - 1][0]) and text[end:end + 1] == ")":
                end += 1
            found.append((words[s][1], end, idx))
    return sorted(found)


def parse_request(text: str, qm: QueryModel):
    """``(text as the model reads it, mentioned catalogue indices in order)`` for a typed request."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the request is empty: type what you would like to watch")
    ids = qm.catalogue["movie_id"].astype(str).to_numpy()
    index = {m: i for i, m in enumerate(ids)}
    names = qm.catalogue["name"].astype(str).to_numpy()
    style = qm.meta.get("mention_style", "title")
    pieces, mentions, pos = [], [], 0
    spans = [(m.start(), m.end(), index.get(m.group(1))) for m in MENTION_RE.finditer(text)]
    taken = [(s, e) for s, e, _ in spans]
    for s, e, i in recognise_titles(text, qm.titles):
        if not any(s < te and ts < e for ts, te in taken):
            spans.append((s, e, i))
    for s, e, i in sorted(spans):
        pieces.append(text[pos:s])
        if i is None:
            pieces.append(text[s:e])  # an unknown @id stays as typed
        else:
            mentions.append(i)
            pieces.append({"title": names[i], "token": f"@{ids[i]}", "placeholder": "@"}[style])
        pos = e
    pieces.append(text[pos:])
    return " ".join("".join(pieces).split()), mentions


def recommend_from_text(qm: QueryModel, text: str, k: int = 10, exclude_mentioned: bool = False) -> pd.DataFrame:
    """Top-``k`` movies for a typed request: ``rank, movie_id, title, score`` (and the parse in ``.attrs``)."""
    from hncf.models.query import pad_mentions

    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model_text, mentions = parse_request(text, qm)
    x = {"text_vector": qm.encoder.encode([model_text], progress=False),
         "mentions": pad_mentions([mentions], int(qm.meta["max_mentions"]))}
    x = {name: v for name, v in x.items() if name in qm.model.input}
    scores = np.asarray(qm.model.predict_on_batch(x), dtype=np.float64)[0]
    if exclude_mentioned and mentions:
        scores[np.asarray(mentions)] = -np.inf
    k = min(int(k), scores.size)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]  # score descending, then lower index
    out = pd.DataFrame({"rank": np.arange(1, k + 1), "movie_id": qm.catalogue["movie_id"].to_numpy()[top],
                        "title": qm.catalogue["name"].to_numpy()[top], "score": scores[top]})
    out.attrs["model_text"] = model_text
    out.attrs["recognised"] = [str(qm.catalogue["name"].iloc[i]) for i in mentions]
    return out
