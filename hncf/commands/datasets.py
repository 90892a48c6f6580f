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
    """One row per known dataset: name, what it is, where it is looked for, whether it is present.

    A place counts as holding a dataset only when it has that release's own files (a folder that
    merely exists, such as the parent given as ``--data-dir``, does not); a folder of the
    dataset's name that lacks some of them is named with what it lacks.
    """
    from hncf.data.download import default_cache_dir
    from hncf.data.movielens import DATA_ENV, MOVIELENS_RELEASES, missing_release_files, resolve_data_dir

    def holds(name: str, folder: Path) -> bool:
        # Releases of one layout share file names: a folder named after another release is that one.
        return not missing_release_files(name, folder) and folder.name not in set(MOVIELENS_RELEASES) - {name}

    rows = []
    for name, release in MOVIELENS_RELEASES.items():
        local = resolve_data_dir(name, data_dir)
        cached = default_cache_dir() / name
        places = [str(local)] if local is not None else []
        if data_dir is not None and local == Path(data_dir).expanduser():
            places.append(str(local / name))  # resolve_data_dir reads DIR or DIR/<name>
        places += [f"${DATA_ENV}/{name}" if os.environ.get(DATA_ENV) is None else str(Path(os.environ[DATA_ENV]) / name),
                   str(cached), release.url]
        places = list(dict.fromkeys(places))
        folders = [Path(p) for p in places[:-1] if Path(p).is_dir()]
        present = next((str(f) for f in folders if holds(name, f)), None)
        if present is None:
            partial = [f"{f} lacks {', '.join(missing_release_files(name, f))}" for f in folders if f.name == name]
            present = "no (downloaded on first use)" + (f"; {'; '.join(partial)}" if partial else "")
        rows.append({"dataset": name, "looked for in": " | ".join(places), "present": present})
    return rows


def run_from_args(args) -> int:
    """Print the table."""
    for row in dataset_table(args.data_dir):
        print(f"{row['dataset']:<16} {row['present']}\n{'':<16} looked for in: {row['looked for in']}")
    return 0
