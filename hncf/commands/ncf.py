"""``reproduce ncf``: NeuMF (the fourth paper) and the NCF family under both protocols."""

from __future__ import annotations

HELP = "NeuMF on MovieLens as in Microsoft Recommenders, and the NCF family under leave-one-out"
DATASETS = ("ml-100k", "ml-1m", "ml-20m", "ml-25m", "ml-latest-small")
DEFAULT_DATASET = "ml-100k"
PRESETS = ("default", "paper", "tiny")
EXAMPLES = """examples:
  python -m hncf reproduce ncf --dataset ml-100k --data-dir ~/data/ml-100k
  python -m hncf reproduce ncf --dataset ml-1m --protocols loo --seed 1"""


def add_arguments(p) -> None:
    """NCF's own flags."""
    g = p.add_argument_group("ncf options")
    g.add_argument("--protocols", default="chrono,loo",
                   help="comma list of: chrono (chronological 75/25, full ranking), loo (leave-one-out, 1+99)")


def run_from_args(args) -> int:
    """Run the NCF reproduction from parsed flags."""
    from hncf.experiments.ncf import run_ncf

    run_ncf(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset, epochs=args.epochs, out_dir=args.out,
            seed=args.seed, protocols=tuple(p.strip() for p in args.protocols.split(",")), resume=args.resume,
            progress=not args.quiet)
    return 0
