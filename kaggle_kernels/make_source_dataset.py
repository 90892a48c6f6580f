"""Package hncf's source as a Kaggle dataset that the kernels attach and pip-install from.

    python kaggle_kernels/make_source_dataset.py --user YOUR_KAGGLE_NAME
    kaggle datasets create -p kaggle_kernels/build/hncf-source     # later: kaggle datasets version -p ... -m "..."
    kaggle kernels push -p kaggle_kernels/ncf-movielens100k

The notebooks install from ``/kaggle/input/hncf-source`` (their ``HNCF_SOURCE`` parameter). ``--user``
also rewrites the owner in every ``kernel-metadata.json`` so the pushes land in your account.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kaggle_kernels"
SOURCE_PARTS = ("hncf", "data_generators", "pyproject.toml", "README.md", "requirements.txt")


def build(user: str, out: Path, set_owner: bool = True) -> Path:
    """Copy the installable source into ``out/hncf-source`` with its dataset-metadata.json."""
    dest = out / "hncf-source"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for part in SOURCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / part)
    meta = {"title": "hncf-source", "id": f"{user}/hncf-source", "licenses": [{"name": "other"}]}
    (dest / "dataset-metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    if set_owner:
        for path in sorted(KERNELS.glob("*/kernel-metadata.json")):
            kernel = json.loads(path.read_text())
            kernel["id"] = f"{user}/{kernel['id'].split('/', 1)[1]}"
            kernel["dataset_sources"] = [f"{user}/hncf-source"] + [
                d for d in kernel.get("dataset_sources", []) if not d.endswith("/hncf-source")]
            path.write_text(json.dumps(kernel, indent=2) + "\n")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--user", required=True, help="your Kaggle user name")
    p.add_argument("--out", type=Path, default=KERNELS / "build")
    p.add_argument("--keep-owner", action="store_true", help="do not rewrite kernel-metadata.json ids")
    args = p.parse_args(argv)
    dest = build(args.user, args.out, set_owner=not args.keep_owner)
    print(f"wrote {dest}; next: kaggle datasets create -p {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
