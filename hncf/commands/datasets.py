"""``datasets``: the datasets hncf knows, where each is looked for, and whether it is here."""

from __future__ import annotations

import os
from pathlib import Path

NEEDS_TENSORFLOW = False
HELP = "list the known datasets, where each is looked for, and whether it is present locally"


def add_arguments(p) -> None:
    """The command's flags."""
    p.add_argument("--data-dir", default=None, help="also look in this folder (as --data-dir of reproduce)")


def dataset_table(data_dir=None) -> list[dict]:
    """One row per known dataset: name, what it is, where it is looked for, whether it is present."""
    from hncf.data.download import default_cache_dir
    from hncf.data.movielens import DATA_ENV, MOVIELENS_RELEASES, resolve_data_dir

    rows = []
    for name, release in MOVIELENS_RELEASES.items():
        local = resolve_data_dir(name, data_dir)
        cached = default_cache_dir() / name
        places = [str(local)] if local is not None else []
        places += [f"${DATA_ENV}/{name}" if os.environ.get(DATA_ENV) is None else str(Path(os.environ[DATA_ENV]) / name),
                   str(cached), release.url]
        present = next((p for p in places[:-1] if Path(p).is_dir()), None)
        rows.append({"dataset": name, "looked for in": " | ".join(dict.fromkeys(places)),
                     "present": present or "no (downloaded on first use)"})
    return rows


def run_from_args(args) -> int:
    """Print the table."""
    for row in dataset_table(args.data_dir):
        print(f"{row['dataset']:<16} {row['present']}\n{'':<16} looked for in: {row['looked for in']}")
    return 0
