"""Amazon review files (McAuley lab): one JSON object per line, plain or gzip, 2014 or 2018 field names.

:func:`read_reviews` parses a file into a frame of ``user, item, rating, timestamp, text`` (the
review text, or its summary when the text is empty) and a :class:`ReviewReport` of what it
skipped or merged, with line numbers: malformed JSON, missing fields, ratings that are not numbers
in 1-5, empty texts (kept, flagged ``has_text = False``), duplicate (user, item) reviews (the
latest kept; ties: the last in the file). Nothing of that is fatal; a file with no usable line is.
:func:`k_core` and :func:`sample_users` apply the BERT-RS paper's selection, configurably.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hncf.data.download import fetch
from hncf.data.schema import ITEM, RATING, TIMESTAMP, USER

TEXT = "text"
REQUIRED = ("reviewerID", "asin", "overall")
# Files of the McAuley lab pages (2014 release, 5-core); give --reviews FILE for any other category.
RELEASES = {
    "musical-instruments-5core-2014": {
        "url": "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/reviews_Musical_Instruments_5.json.gz",
        "sha256": "03f9cc27ae13a454cb4ea6cb620fb10546cc1194ef921441d1c5f34addff2748",
    },
}


@dataclass
class ReviewReport:
    """What reading a review file skipped, flagged or merged; the lists hold (line number, reason)."""

    path: str
    lines: int = 0
    used: int = 0
    malformed: list = field(default_factory=list)
    missing_fields: list = field(default_factory=list)
    bad_ratings: list = field(default_factory=list)
    empty_text: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    filters: list = field(default_factory=list)  # (filter, rows removed, users removed, items removed)

    def summary(self) -> str:
        """A few lines for the user: counts and the first line numbers of each kind."""
        def part(name, rows):
            if not rows:
                return None
            first = ", ".join(str(n) for n, _ in rows[:5])
            return f"{len(rows)} {name} (line {first}{', ...' if len(rows) > 5 else ''})"

        parts = [p for p in (part("malformed lines", self.malformed), part("lines missing fields", self.missing_fields),
                             part("bad ratings", self.bad_ratings), part("empty review texts (kept)", self.empty_text),
                             part("duplicate (user, item) reviews merged, latest kept", self.duplicates)) if p]
        out = [f"{self.path}: {self.used:,} of {self.lines:,} lines used" + (": " + "; ".join(parts) if parts else "")]
        out += [f"  {name}: removed {rows:,} reviews, {users:,} users, {items:,} items"
                for name, rows, users, items in self.filters]
        return "\n".join(out)


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def read_reviews(path: str | os.PathLike) -> tuple[pd.DataFrame, ReviewReport]:
    """Parse a review file; returns ``(reviews, report)`` (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"review file {path} not found")
    report = ReviewReport(str(path))
    users, items, ratings, times, texts, line_no = [], [], [], [], [], []
    try:
        with _open(path) as f:
            for n, line in enumerate(f, 1):
                report.lines = n
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    report.malformed.append((n, str(e)))
                    continue
                if not isinstance(obj, dict):
                    report.malformed.append((n, f"a JSON {type(obj).__name__}, not an object"))
                    continue
                missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
                if missing:
                    report.missing_fields.append((n, f"missing {', '.join(missing)}"))
                    continue
                try:
                    rating = float(obj["overall"])
                except (TypeError, ValueError):
                    rating = float("nan")
                if not 1.0 <= rating <= 5.0:
                    report.bad_ratings.append((n, f"overall = {obj['overall']!r}"))
                    continue
                text = str(obj.get("reviewText") or "").strip() or str(obj.get("summary") or "").strip()
                if not text:
                    report.empty_text.append((n, "no reviewText or summary"))
                try:
                    t = int(obj.get("unixReviewTime") or 0)
                except (TypeError, ValueError):
                    t = 0
                users.append(str(obj["reviewerID"]))
                items.append(str(obj["asin"]))
                ratings.append(rating)
                times.append(t)
                texts.append(text)
                line_no.append(n)
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} cannot be read past line {report.lines}: {e}") from e
    df = pd.DataFrame({USER: users, ITEM: items, RATING: np.asarray(ratings, np.float32),
                       TIMESTAMP: np.asarray(times, np.int64), TEXT: texts, "line": np.asarray(line_no, np.int64)})
    if df.empty:
        raise ValueError(f"{path} has no usable review line ({report.lines} lines: {len(report.malformed)} malformed, "
                         f"{len(report.missing_fields)} missing fields, {len(report.bad_ratings)} bad ratings)")
    # Duplicates: keep the latest review of a (user, item) pair; ties go to the later line.
    order = df.sort_values([TIMESTAMP, "line"], kind="stable")
    dup = order.duplicated([USER, ITEM], keep="last")
    report.duplicates = [(int(n), "an earlier review of the same (user, item)") for n in order.loc[dup, "line"]]
    df = order[~dup].sort_values("line", kind="stable").reset_index(drop=True)
    df["has_text"] = df[TEXT].str.len() > 0
    report.used = len(df)
    return df, report


def k_core(reviews: pd.DataFrame, min_user: int = 5, min_item: int = 5, report: ReviewReport | None = None,
           max_rounds: int = 100) -> pd.DataFrame:
    """Keep reviews whose user has >= ``min_user`` and item >= ``min_item`` reviews, repeated until stable."""
    df = reviews
    for _ in range(max_rounds):
        u = df[USER].map(df[USER].value_counts())
        i = df[ITEM].map(df[ITEM].value_counts())
        keep = (u >= min_user) & (i >= min_item)
        if keep.all():
            break
        df = df[keep]
    if report is not None:
        report.filters.append((f"{min_user}-core users / {min_item}-core items", len(reviews) - len(df),
                               reviews[USER].nunique() - df[USER].nunique(), reviews[ITEM].nunique() - df[ITEM].nunique()))
    if df.empty:
        # With the report, the error names the file and what reading it skipped (often the real cause).
        read = f"{report.summary().splitlines()[0]}; " if report is not None else ""
        raise ValueError(f"{read}no review is left after keeping users with >= {min_user} and items with >= "
                         f"{min_item} reviews: lower --min-user-reviews / --min-item-reviews for this category"
                         + (", or repair the skipped lines" if report is not None and (
                             report.malformed or report.missing_fields or report.bad_ratings) else ""))
    return df.reset_index(drop=True)


def sample_users(reviews: pd.DataFrame, n_users: int | None, seed: int = 0,
                 report: ReviewReport | None = None) -> pd.DataFrame:
    """All reviews of ``n_users`` users drawn at random (the paper samples 10,000); None keeps everyone."""
    users = np.sort(reviews[USER].unique())
    if n_users is None or n_users >= len(users):
        return reviews
    chosen = np.random.default_rng(seed).choice(users, size=n_users, replace=False)
    out = reviews[reviews[USER].isin(chosen)].reset_index(drop=True)
    if report is not None:
        report.filters.append((f"sample {n_users} users", len(reviews) - len(out), len(users) - n_users,
                               reviews[ITEM].nunique() - out[ITEM].nunique()))
    return out


def load_reviews(source: str | os.PathLike, min_user: int = 5, min_item: int = 5, n_users: int | None = None,
                 seed: int = 0, cache_dir=None, progress: bool = True) -> tuple[pd.DataFrame, ReviewReport]:
    """Read a local review file (or a release name of :data:`RELEASES`, downloaded once), then filter.

    The paper's selection is ``min_user=20, min_item=10, n_users=10000`` on Books; small categories
    need lower thresholds (the 5-core files already hold 5 reviews per user and item).
    """
    path = Path(source)
    if not path.exists() and str(source) in RELEASES:
        rel = RELEASES[str(source)]
        path = fetch(rel["url"], cache_dir, sha256=rel["sha256"], progress=progress)
    reviews, report = read_reviews(path)
    reviews = k_core(reviews, min_user, min_item, report)
    reviews = sample_users(reviews, n_users, seed, report)
    if progress:
        print(f"[hncf] {report.summary()}", flush=True)
    return reviews, report


_WORDS = ("guitar", "strings", "tuner", "cable", "pedal", "drum", "mic", "stand", "amp", "pick", "capo", "strap")


def write_synthetic_reviews(path, n_users: int = 40, n_items: int = 30, per_user: int = 8, fmt: str = "2014",
                            seed: int = 0, compress: bool = True) -> Path:
    """Write a review file in the real McAuley format (2014 or 2018 field names) with a learnable signal:
    each user and item has a topic, users review items of their topic more often, and texts name the topic.

    For tests and quick mode; nothing here is a result.
    """
    if fmt not in ("2014", "2018"):
        raise ValueError(f"fmt must be '2014' or '2018', got {fmt!r}")
    rng = np.random.default_rng(seed)
    user_topic = rng.integers(0, len(_WORDS), n_users)
    item_topic = rng.integers(0, len(_WORDS), n_items)
    lines = []
    for u in range(n_users):
        same = np.flatnonzero(item_topic == user_topic[u])
        pool = np.r_[np.repeat(same, 6), np.arange(n_items)]
        items = rng.permutation(np.unique(rng.choice(pool, size=per_user * 3)))[:per_user]
        for k, i in enumerate(items):
            words = rng.choice(_WORDS, 4).tolist() + [_WORDS[item_topic[i]]] * 2
            obj = {"reviewerID": f"U{u:04d}", "asin": f"B{i:05d}", "reviewText": " ".join(rng.permutation(words)),
                   "overall": float(rng.integers(3, 6)), "summary": _WORDS[item_topic[i]],
                   "unixReviewTime": int(1_400_000_000 + 86_400 * (k + rng.integers(0, 3)))}
            if fmt == "2018":
                obj.update(verified=bool(rng.random() < 0.8), vote=str(rng.integers(0, 5)),
                           style={"Color:": "black"})
            else:
                obj.update(reviewerName=f"user {u}", helpful=[0, 0], reviewTime="01 1, 2015")
            lines.append(json.dumps(obj))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path
