"""ReDial conversational recommendation dialogues: loader, example construction, MovieLens title join.

Files (the official release, ``redial_dataset.zip`` on the ``data`` branch of ReDialData/website):
JSON-lines dialogues (``conversationId, messages[{text, senderWorkerId, messageId, timeOffset}],
movieMentions, initiatorQuestions, respondentQuestions, initiatorWorkerId, respondentWorkerId``) and
``movies_with_mentions.csv`` (``movieId, movieName, nbMentions``).

Real quirks handled and counted, never fatal: ``initiatorQuestions``/``respondentQuestions`` given
as an empty list instead of an object; mentions (``@111776``) of ids missing from the catalogue
(kept in the text, dropped from labels and mention lists); HTML entities (``&quot;``); empty
messages (dropped); messages from a worker who is neither party (dropped). A line that is not a JSON
object with the required fields is skipped and reported with its line number.

Example constructions (:func:`build_examples`):

* ``"dialogue"`` (the paper's): one example per dialogue; the input is the initiator's utterances
  joined by `` [SEP] ``; the labels are the movies the respondent *suggested*: mentioned in a
  respondent message and marked ``suggested == 1`` in the respondent's form (the initiator's form
  when the respondent's is missing; every respondent mention when both are missing).
* ``"turn"`` (CRSLab / UniCRS): one example per respondent message that mentions a movie; the input
  is the dialogue so far (both speakers), the targets every movie that message mentions.

Mentions are rendered in the text as the movie's title (``mention_style="title"``) or kept as the
raw ``@id`` token (``"token"``); ``text_placeholder`` replaces them by ``@`` for the RNN variant,
whose input is the mentioned movies' catalogue indices (``mentions``, in order of mention).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.download import default_cache_dir, fetch

__all__ = [
    "REDIAL_URL", "CATALOGUE_FILE", "Message", "Dialogue", "LoadReport", "Examples",
    "read_dialogues", "read_catalogue", "download_redial", "find_redial_files", "build_examples",
    "normalize_title", "split_title_year", "join_movielens", "movie_texts", "split_dialogues",
    "MENTION_RE", "write_synthetic_redial",
]

REDIAL_URL = "https://github.com/ReDialData/website/raw/data/redial_dataset.zip"
# The archive's checksum is not published by ReDial; pass sha256= to download_redial to pin a copy.
REDIAL_SHA256 = None
CATALOGUE_FILE = "movies_with_mentions.csv"
OFFICIAL_FILES = ("train_data.jsonl", "test_data.jsonl", CATALOGUE_FILE)
MENTION_RE = re.compile(r"@(\d+)")
SEP = " [SEP] "
_REQUIRED = ("conversationId", "messages", "initiatorWorkerId", "respondentWorkerId")


@dataclass
class Message:
    """One utterance: ``role`` is ``"initiator"`` or ``"respondent"``; ``text`` is HTML-unescaped."""

    role: str
    text: str
    message_id: int | None = None


@dataclass
class Dialogue:
    """One ReDial conversation, with where it came from (file and line)."""

    conversation_id: str
    messages: list
    movie_mentions: dict
    initiator_questions: dict
    respondent_questions: dict
    source: str = ""
    line: int = 0


@dataclass
class LoadReport:
    """What reading a file found: dialogues kept, malformed lines (line number, reason), quirk counts."""

    path: str
    lines: int = 0
    dialogues: int = 0
    malformed: list = field(default_factory=list)
    quirks: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for logs."""
        bad = ", ".join(f"line {n}: {why}" for n, why in self.malformed[:5])
        more = f" (+{len(self.malformed) - 5} more)" if len(self.malformed) > 5 else ""
        quirks = ", ".join(f"{k} {v}" for k, v in sorted(self.quirks.items()))
        return (f"{self.path}: {self.dialogues} dialogues from {self.lines} lines; {len(self.malformed)} malformed"
                + (f" ({bad}{more})" if bad else "") + (f"; quirks: {quirks}" if quirks else ""))

    def to_dict(self) -> dict:
        """JSON-friendly form for metrics.json."""
        return {"path": self.path, "lines": self.lines, "dialogues": self.dialogues,
                "malformed": [{"line": n, "reason": r} for n, r in self.malformed], "quirks": dict(self.quirks)}


def _questions(value, name: str, quirks: Counter) -> dict:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if isinstance(v, dict)}
    if value is None or (isinstance(value, list) and not value):
        quirks[f"{name} empty list/null"] += 1
        return {}
    raise ValueError(f"{name} is a {type(value).__name__}, expected an object")


def _parse(obj, quirks: Counter, source: str, line: int) -> Dialogue:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    if not isinstance(obj["messages"], list):
        raise ValueError("messages is not a list")
    roles = {obj["initiatorWorkerId"]: "initiator", obj["respondentWorkerId"]: "respondent"}
    messages = []
    for m in obj["messages"]:
        if not isinstance(m, dict) or "text" not in m or "senderWorkerId" not in m:
            raise ValueError("a message lacks text or senderWorkerId")
        role = roles.get(m["senderWorkerId"])
        if role is None:
            quirks["message from neither party (dropped)"] += 1
            continue
        raw = m["text"] if isinstance(m["text"], str) else ""
        text = html.unescape(raw)
        if text != raw:
            quirks["messages with HTML entities"] += 1
        text = " ".join(text.split())
        if not text:
            quirks["empty messages (dropped)"] += 1
            continue
        messages.append(Message(role, text, m.get("messageId")))
    mentions = obj.get("movieMentions") or {}
    if not isinstance(mentions, dict):
        quirks["movieMentions not an object"] += 1
        mentions = {}
    mentions = {str(k): html.unescape(" ".join(str(v).split())) for k, v in mentions.items() if v}
    return Dialogue(str(obj["conversationId"]), messages, mentions,
                    _questions(obj.get("initiatorQuestions"), "initiatorQuestions", quirks),
                    _questions(obj.get("respondentQuestions"), "respondentQuestions", quirks), source, line)


def read_dialogues(path: str | os.PathLike) -> tuple[list, LoadReport]:
    """Read a ReDial JSON-lines file: ``(dialogues, report)``; bad lines are reported, not fatal.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when no line is usable.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ReDial dialogue file {path} does not exist")
    report = LoadReport(str(path))
    dialogues, seen = [], set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            report.lines = n
            if not line.strip():
                report.quirks["blank lines"] += 1
                continue
            quirks: Counter = Counter()  # merged only when the line is kept
            try:
                d = _parse(json.loads(line), quirks, path.name, n)
            except (ValueError, TypeError) as e:
                reason = f"not JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else str(e)
                report.malformed.append((n, reason))
                continue
            if d.conversation_id in seen:
                report.malformed.append((n, f"conversationId {d.conversation_id} repeats an earlier line"))
                continue
            seen.add(d.conversation_id)
            report.quirks.update(quirks)
            dialogues.append(d)
    report.dialogues = len(dialogues)
    if not dialogues:
        raise ValueError(f"{path}: no usable dialogue in {report.lines} lines "
                         f"({len(report.malformed)} malformed, first: {report.malformed[:1]})")
    return dialogues, report


def split_title_year(name: str) -> tuple[str, int | None]:
    """``"Police Academy  (1984)"`` -> ``("Police Academy", 1984)``; no year -> ``(name, None)``."""
    name = " ".join(str(name).split())
    m = re.match(r"^(.*?)\s*\((\d{4})\)\s*$", name)
    if m:
        return m.group(1).strip(), int(m.group(2))
    return name, None


def read_catalogue(path: str | os.PathLike) -> pd.DataFrame:
    """``movies_with_mentions.csv`` -> ``movie_id, name, title, year, n_mentions`` in file order.

    The row order is the model's output order. Raises ``ValueError`` naming the file for missing
    columns, a repeated id or a missing name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ReDial catalogue {path} does not exist")
    df = pd.read_csv(path, dtype={"movieId": "Int64"}, keep_default_na=False, na_values=[""])
    missing = {"movieId", "movieName"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {list(df.columns)}")
    if df["movieId"].isna().any():
        raise ValueError(f"{path}: movieId missing on line {int(np.flatnonzero(df['movieId'].isna())[0]) + 2}")
    dup = df["movieId"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(f"{path}: movieId {df['movieId'].iloc[i]} repeated on line {i + 2}")
    if df["movieName"].isna().any():
        raise ValueError(f"{path}: movieName missing on line {int(np.flatnonzero(df['movieName'].isna())[0]) + 2}")
    names = df["movieName"].astype(str).map(lambda s: html.unescape(" ".join(s.split())))
    ty = names.map(split_title_year)
    return pd.DataFrame({
        "movie_id": df["movieId"].astype(np.int64).to_numpy(), "name": names.to_numpy(),
        "title": [t for t, _ in ty], "year": pd.array([y for _, y in ty], dtype="Int64"),
        "n_mentions": df["nbMentions"].to_numpy() if "nbMentions" in df else np.zeros(len(df), np.int64),
    })


def download_redial(cache_dir: str | os.PathLike | None = None, url: str = REDIAL_URL,
                    sha256: str | None = REDIAL_SHA256, progress: bool = True) -> Path:
    """Fetch the official archive once (checksum if given, atomic cache) and unpack it; returns the folder.

    The unpacked folder appears only once complete (extracted to a temporary folder, then renamed).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / "redial"
    target = root / "redial_dataset"
    if all((target / f).exists() for f in OFFICIAL_FILES):
        return target
    archive = fetch(url, root, sha256=sha256, progress=progress)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".redial-unpack-"))
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.infolist():
                name = Path(member.filename).name
                if name in OFFICIAL_FILES and not member.is_dir():
                    with z.open(member) as src, open(tmp / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        lacking = [f for f in OFFICIAL_FILES if not (tmp / f).exists()]
        if lacking:
            raise ValueError(f"{archive} lacks {lacking}; is it the ReDial release?")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def find_redial_files(dialogues: str | None = None, data_dir: str | None = None,
                      download: bool = True) -> tuple[list, Path]:
    """Dialogue files and the catalogue: ``--dialogues`` (comma list), else ``data_dir``, else download.

    A relative dialogue path that is not found from the working folder is looked for in ``data_dir``
    (so ``--data-dir DIR --dialogues a.jsonl,b.jsonl`` names files in DIR). The catalogue is looked
    for beside the first dialogue file, then in ``data_dir``.
    """
    folder = Path(data_dir).expanduser() if data_dir else None

    def locate(name: str) -> Path:
        path = Path(name.strip()).expanduser()
        if not path.is_file() and folder is not None and not path.is_absolute() and (folder / path).is_file():
            return folder / path
        return path

    if dialogues:
        files = [locate(p) for p in str(dialogues).split(",") if p.strip()]
    elif folder is not None:
        files = sorted(folder.glob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"no *.jsonl dialogue file in {folder}")
    elif download:
        folder = download_redial()
        files = [folder / "train_data.jsonl", folder / "test_data.jsonl"]
    else:
        raise FileNotFoundError("give --dialogues FILE[,FILE] or --data-dir")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"ReDial dialogue file {f} does not exist")
    candidates = [files[0].parent / CATALOGUE_FILE] + ([folder / CATALOGUE_FILE] if folder else [])
    for c in candidates:
        if c.is_file():
            return files, c
    raise FileNotFoundError(f"{CATALOGUE_FILE} not found in {', '.join(str(c.parent) for c in candidates)}")


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------


@dataclass
class Examples:
    """Training/evaluation examples over a catalogue (indices are catalogue row positions).

    ``text_title``/``text_token``: the input with mentions as titles or raw ``@id``;
    ``text_placeholder``: mentions as ``@`` (RNN variant); ``mentions``: catalogue indices mentioned in
    the input, in order; ``targets``: catalogue indices to recommend; ``dialogue``: conversation id.
    """

    text_title: np.ndarray
    text_token: np.ndarray
    text_placeholder: np.ndarray
    mentions: list
    targets: list
    dialogue: np.ndarray
    construction: str
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.targets)

    def text(self, style: str) -> np.ndarray:
        """The input texts for ``style`` in ``title``, ``token``, ``placeholder``."""
        try:
            return {"title": self.text_title, "token": self.text_token, "placeholder": self.text_placeholder}[style]
        except KeyError:
            raise ValueError(f"unknown mention style {style!r}; expected title, token or placeholder") from None

    def subset(self, rows) -> "Examples":
        """The examples at ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return Examples(self.text_title[rows], self.text_token[rows], self.text_placeholder[rows],
                        [self.mentions[i] for i in rows], [self.targets[i] for i in rows], self.dialogue[rows],
                        self.construction, dict(self.stats))

    def concat(self, other: "Examples") -> "Examples":
        """These examples followed by ``other``'s (same construction); counts in the stats are summed."""
        if other.construction != self.construction:
            raise ValueError(f"cannot join {self.construction!r} and {other.construction!r} examples")
        stats = {k: self.stats.get(k, 0) + other.stats.get(k, 0) for k in self.stats.keys() | other.stats.keys()
                 if k != "share_already_mentioned"}
        stats["share_already_mentioned"] = stats.get("targets_already_mentioned", 0) / max(stats.get("targets", 0), 1)
        return Examples(np.concatenate([self.text_title, other.text_title]),
                        np.concatenate([self.text_token, other.text_token]),
                        np.concatenate([self.text_placeholder, other.text_placeholder]),
                        self.mentions + other.mentions, self.targets + other.targets,
                        np.concatenate([self.dialogue, other.dialogue]), self.construction, stats)

    def new_targets(self) -> list:
        """Targets not already mentioned in the input (the "new movies only" view)."""
        return [np.setdiff1d(t, m) for t, m in zip(self.targets, self.mentions)]


def _render(text: str, dialogue: Dialogue, titles: dict, index: dict, counts: Counter):
    """The three renderings of one utterance and the catalogue indices it mentions, in order."""
    found = []

    def title(m):
        mid = m.group(1)
        if mid in index:
            found.append(index[mid])
        else:
            counts["mentions of ids not in the catalogue"] += 1
        name = dialogue.movie_mentions.get(mid) or titles.get(mid)
        return name if name else m.group(0)

    as_title = MENTION_RE.sub(title, text)
    return as_title, text, MENTION_RE.sub("@", text), found


def _suggested(d: Dialogue, mid: str) -> bool | None:
    for form in (d.respondent_questions, d.initiator_questions):
        if form:
            q = form.get(mid)
            return None if q is None else q.get("suggested") == 1
    return None


def build_examples(dialogues, catalogue: pd.DataFrame, construction: str = "dialogue",
                   max_context_chars: int | None = 1200) -> Examples:
    """Examples from dialogues; see the module docstring for the two constructions.

    ``max_context_chars`` (turn construction) keeps only the most recent utterances that fit, so the
    text encoder's truncation never cuts the latest turn. Dialogues without a label (dialogue
    construction) are dropped and counted.
    """
    if construction not in ("dialogue", "turn"):
        raise ValueError(f"unknown example construction {construction!r}; expected 'dialogue' or 'turn'")
    ids = catalogue["movie_id"].astype(str).to_numpy()
    index = {m: i for i, m in enumerate(ids)}
    titles = dict(zip(ids, catalogue["name"].astype(str)))
    counts: Counter = Counter()
    rows = {"title": [], "token": [], "placeholder": [], "mentions": [], "targets": [], "dialogue": []}

    def add(parts, mentions, targets, did):
        rows["title"].append(SEP.join(p[0] for p in parts))
        rows["token"].append(SEP.join(p[1] for p in parts))
        rows["placeholder"].append(SEP.join(p[2] for p in parts))
        rows["mentions"].append(np.asarray(mentions, dtype=np.int64))
        rows["targets"].append(np.unique(np.asarray(targets, dtype=np.int64)))
        rows["dialogue"].append(did)

    for d in dialogues:
        rendered = [_render(m.text, d, titles, index, counts) for m in d.messages]
        if construction == "dialogue":
            parts = [r for r, m in zip(rendered, d.messages) if m.role == "initiator"]
            mentions = [i for p in parts for i in p[3]]
            said = {i for r, m in zip(rendered, d.messages) if m.role == "respondent" for i in r[3]}
            targets = []
            for i in sorted(said):
                s = _suggested(d, ids[i])
                counts["respondent mentions judged by a form" if s is not None else
                       "respondent mentions without a form answer (kept)"] += 1
                if s is None or s:
                    targets.append(i)
            if not parts or not targets:
                counts["dialogues without initiator text or suggested movie (dropped)"] += 1
                continue
            add(parts, mentions, targets, d.conversation_id)
        else:
            for t, (r, m) in enumerate(zip(rendered, d.messages)):
                if m.role != "respondent" or not r[3] or t == 0:
                    continue
                context = rendered[:t]
                if max_context_chars:
                    keep, total = [], 0
                    for p in reversed(context):
                        total += len(p[0]) + len(SEP)
                        if keep and total > max_context_chars:
                            break
                        keep.append(p)
                    shown = keep[::-1]
                else:
                    shown = context
                mentions = [i for p in context for i in p[3]]  # all earlier mentions, even if not shown
                add(shown, mentions, r[3], d.conversation_id)
    n = len(rows["targets"])
    if n == 0:
        raise ValueError(f"no example could be built from {len(dialogues)} dialogues ({construction} construction)")
    targets = rows["targets"]
    repeated = sum(len(np.intersect1d(t, m)) for t, m in zip(targets, rows["mentions"]))
    n_targets = sum(len(t) for t in targets)
    stats = {"examples": n, "targets": n_targets, "targets_already_mentioned": int(repeated),
             "share_already_mentioned": repeated / max(n_targets, 1), **dict(counts)}
    obj = lambda k: np.array(rows[k], dtype=object)  # noqa: E731
    return Examples(obj("title"), obj("token"), obj("placeholder"), rows["mentions"], targets,
                    np.array(rows["dialogue"], dtype=object), construction, stats)


def split_dialogues(dialogues, seed: int, validation: float = 0.1, test: float = 0.2) -> tuple[list, list, list]:
    """Shuffle dialogues with ``seed`` and cut them into (train, validation, test) lists."""
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise ValueError(f"bad split shares validation={validation}, test={test}")
    order = np.random.default_rng(seed).permutation(len(dialogues))
    n_test, n_val = int(round(test * len(order))), int(round(validation * len(order)))
    pick = lambda idx: [dialogues[i] for i in idx]  # noqa: E731
    return pick(order[n_test + n_val:]), pick(order[n_test:n_test + n_val]), pick(order[:n_test])


# ---------------------------------------------------------------------------
# MovieLens join and movie texts
# ---------------------------------------------------------------------------

_ARTICLE = re.compile(r"^(.*), (the|a|an|les|la|le|el|il|der|die|das)$", re.I)


def normalize_title(title: str) -> str:
    """Lower case, accents and punctuation removed, a trailing ", The" moved to the front, "a.k.a." dropped."""
    t = unicodedata.normalize("NFKD", str(title)).encode("ascii", "ignore").decode()
    t = re.sub(r"\s*\((a\.k\.a\.|aka)[^)]*\)", "", t, flags=re.I)
    t = re.sub(r"\s*\([^)]*\)\s*$", "", t) if re.search(r"\)\s*$", t) and not re.search(r"\(\d{4}\)\s*$", t) else t
    t = t.strip()
    m = _ARTICLE.match(t)
    if m:
        t = f"{m.group(2)} {m.group(1)}"
    t = re.sub(r"&", " and ", t.lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


def join_movielens(catalogue: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Match ReDial movies to MovieLens by normalised title and year: one row per catalogue movie.

    ``movies`` has MovieLens ``movieId`` and ``title`` ("Toy Story (1995)"). Returns the catalogue
    columns plus ``ml_movie_id`` (``<NA>`` when unmatched). A (title, year) pair that names several
    MovieLens movies takes the lowest id.
    """
    ty = movies["title"].astype(str).map(split_title_year)
    ml = pd.DataFrame({"key": [normalize_title(t) for t, _ in ty], "year": pd.array([y for _, y in ty], "Int64"),
                       "ml_movie_id": movies["movieId"].astype(np.int64).to_numpy()})
    ml = ml.dropna(subset=["year"]).sort_values("ml_movie_id").drop_duplicates(["key", "year"])
    left = catalogue.assign(key=[normalize_title(t) for t in catalogue["title"]])
    out = left.merge(ml, on=["key", "year"], how="left")
    # A ReDial name without a year ("The Mummy") matches only a title MovieLens uses once.
    unique = ml[~ml["key"].duplicated(keep=False)].set_index("key")["ml_movie_id"]
    out["ml_movie_id"] = out["ml_movie_id"].astype("Int64")
    no_year = (out["year"].isna() & out["ml_movie_id"].isna()).to_numpy()
    if no_year.any():
        out.loc[no_year, "ml_movie_id"] = out.loc[no_year, "key"].map(unique).astype("Int64")
    out["match"] = np.where(out["ml_movie_id"].isna(), "none", np.where(no_year, "title only", "title+year"))
    return out.drop(columns="key")


def movie_texts(joined: pd.DataFrame, movies: pd.DataFrame | None = None, tags: pd.DataFrame | None = None,
                max_tags: int = 10) -> np.ndarray:
    """One text per catalogue movie: title and year, plus MovieLens genres and most frequent tags when matched."""
    genres = {}
    if movies is not None:
        genres = dict(zip(movies["movieId"].astype(np.int64), movies["genres"].astype(str).str.replace("|", ", ")))
    tag_text = {}
    if tags is not None and len(tags):
        t = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
        t = t[t["tag"] != ""].groupby(["movieId", "tag"]).size().rename("n").reset_index()
        t = t.sort_values(["movieId", "n", "tag"], ascending=[True, False, True]).groupby("movieId").head(max_tags)
        tag_text = t.groupby("movieId")["tag"].agg(", ".join).to_dict()
    out = []
    for name, ml in zip(joined["name"], joined.get("ml_movie_id", pd.Series([pd.NA] * len(joined)))):
        parts = [str(name)]
        if not pd.isna(ml):
            g = genres.get(int(ml))
            if g and g != "(no genres listed)":
                parts.append(f"Genres: {g}.")
            if int(ml) in tag_text:
                parts.append(f"Tags: {tag_text[int(ml)]}.")
        out.append(" ".join(parts))
    return np.array(out, dtype=object)


# ---------------------------------------------------------------------------
# Synthetic dialogues in the real format (tests, notebook quick mode)
# ---------------------------------------------------------------------------

_GENRES = {"horror": ("scary", "terrifying", "creepy"), "comedy": ("funny", "hilarious", "silly"),
           "animation": ("animated", "cartoon", "family"), "romance": ("romantic", "love", "sweet")}
_TITLE_WORDS = ("Night", "Shadow", "Laugh", "Party", "Star", "Heart", "Dream", "River", "Ghost", "Toy", "Kiss",
                "Moon", "House", "Road", "Summer", "Secret")


def write_synthetic_redial(folder, n_dialogues: int = 120, n_movies: int = 40, seed: int = 0,
                           malformed: bool = True) -> Path:
    """Write ``dialogues.jsonl`` and ``movies_with_mentions.csv`` in the official format; returns the folder.

    Movies belong to four genres; initiators describe a genre in words and mention movies of it,
    respondents suggest other movies of the same genre, so both the text and the mentions carry
    signal. Includes the real quirks: questions as empty lists, an HTML entity, an empty message,
    and (with ``malformed``) one broken line.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    genres = list(_GENRES)
    movie_ids = 100000 + rng.choice(100000, n_movies, replace=False)
    movie_genre = np.arange(n_movies) % len(genres)
    names = []
    for k in range(n_movies):
        a, b = rng.choice(len(_TITLE_WORDS), 2, replace=False)
        names.append(f"{_TITLE_WORDS[a]} {_TITLE_WORDS[b]} {k} ({1980 + int(rng.integers(0, 40))})")
    cat = pd.DataFrame({"movieId": movie_ids, "movieName": names, "nbMentions": rng.integers(1, 50, n_movies)})
    cat.to_csv(folder / CATALOGUE_FILE, index=False)
    lines = []
    for c in range(n_dialogues):
        g = int(rng.integers(len(genres)))
        pool = np.flatnonzero(movie_genre == g)
        liked, suggested = rng.choice(pool, 2, replace=False), rng.choice(pool, 2, replace=False)
        word = rng.choice(_GENRES[genres[g]])
        msgs = [(1, "Hi! I am looking for a movie tonight"), (2, "Sure, what do you like?"),
                (1, f"I like {word} movies like @{movie_ids[liked[0]]} and @{movie_ids[liked[1]]}"),
                (2, f"You might like @{movie_ids[suggested[0]]}"), (1, "Seen it &amp; loved it" if c % 7 == 0 else "ok"),
                (2, f"Then try @{movie_ids[suggested[1]]}, it is very {word}"), (1, "" if c % 11 == 0 else "thanks!")]
        mentioned = {str(movie_ids[i]): names[i] for i in (*liked, *suggested)}
        form = {str(movie_ids[i]): {"suggested": int(i in suggested and i not in liked), "seen": 0, "liked": 1}
                for i in (*liked, *suggested)}
        obj = {"movieMentions": mentioned, "respondentQuestions": [] if c % 9 == 0 else form,
               "messages": [{"timeOffset": 10 * t, "text": text, "senderWorkerId": who, "messageId": 1000 * c + t}
                            for t, (who, text) in enumerate(msgs)],
               "conversationId": str(50000 + c), "respondentWorkerId": 2, "initiatorWorkerId": 1,
               "initiatorQuestions": form if c % 5 else []}
        lines.append(json.dumps(obj))
    if malformed:
        lines.insert(len(lines) // 2, '{"conversationId": "broken", "messages": [')
    (folder / "dialogues.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
