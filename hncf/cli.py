"""Command line: ``python -m hncf reproduce <system> ...``.

Errors a user can fix (unknown dataset, missing files, failed download, bad
rows) print one ``hncf: error: ...`` line and exit with status 1; usage
errors exit with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys

SYSTEMS = ("ncf",)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hncf", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reproduce", help="reproduce one paper's system end to end")
    r.add_argument("system", choices=SYSTEMS, help="which paper's system")
    r.add_argument("--dataset", default="ml-100k", help="dataset name, e.g. ml-100k, ml-1m, ml-latest-small")
    r.add_argument("--data-dir", default=None,
                   help="local copy of the dataset (else $HNCF_DATA_DIR/<dataset>, else download)")
    r.add_argument("--preset", default="default", help="default | paper | tiny")
    r.add_argument("--epochs", type=int, default=None, help="override the preset's epoch budget")
    r.add_argument("--protocols", default="chrono,loo", help="comma list of: chrono, loo")
    r.add_argument("--out", default=None, help="output folder (default runs/<system>-<dataset>-<preset>)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv=None) -> int:
    """Parse ``argv`` and run the command; returns the process exit status."""
    args = _parser().parse_args(argv)
    # Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hncf.data.download import DownloadError
    from hncf.data.schema import SchemaError

    out = args.out or os.path.join("runs", f"{args.system}-{args.dataset}-{args.preset}")
    try:
        if args.system == "ncf":
            from hncf.experiments.ncf import run_ncf

            run_ncf(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset, epochs=args.epochs,
                    out_dir=out, seed=args.seed, protocols=tuple(p.strip() for p in args.protocols.split(",")),
                    resume=args.resume, progress=not args.quiet)
    except (ValueError, KeyError, FileNotFoundError, DownloadError, SchemaError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"hncf: error: {msg}", file=sys.stderr)
        return 1
    return 0
