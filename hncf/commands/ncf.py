"""``reproduce ncf``: NeuMF (the fourth paper) and the NCF family under both protocols."""

from __future__ import annotations

HELP = "NeuMF on MovieLens as in Microsoft Recommenders, and the NCF family under leave-one-out"
DATASETS = ("ml-100k", "ml-1m", "ml-20m", "ml-25m", "ml-latest-small")
DEFAULT_DATASET = "ml-100k"
# Must match hncf.experiments.ncf.PRESETS (a test checks); "ml-1m" follows He et al. and Rendle et al. on ML-1M.
PRESETS = ("default", "paper", "tiny", "ml-1m")
EXAMPLES = """examples:
  python -m hncf reproduce ncf --dataset ml-100k --data-dir ~/data/ml-100k
  python -m hncf reproduce ncf --dataset ml-1m --protocols loo --seed 1
  python -m hncf reproduce ncf --dataset ml-1m --data-dir ~/data/ml-1m --preset ml-1m --protocols loo
  python -m hncf reproduce ncf --dataset ml-1m --data-dir ~/data/ml-1m --preset ml-1m --protocols loo --sweep factors"""


def add_arguments(p) -> None:
    """NCF's own flags."""
    g = p.add_argument_group("ncf options")
    g.add_argument("--protocols", default="chrono,loo",
                   help="comma list of: chrono (chronological 75/25, full ranking), loo (leave-one-out, 1+99)")
    g.add_argument("--sweep", choices=("factors",), default=None,
                   help="factors: the leave-one-out rows become GMF, MLP and pretrained NeuMF at 8, 16, 32 and 64 "
                        "predictive factors (He et al.'s Figure 4), with a plot (factor_sweep.png)")


def run_from_args(args) -> int:
    """Run the NCF reproduction from parsed flags."""
    from hncf.experiments.ncf import run_ncf

    run_ncf(dataset=args.dataset, data_dir=args.data_dir, preset=args.preset, epochs=args.epochs, out_dir=args.out,
            seed=args.seed, protocols=tuple(p.strip() for p in args.protocols.split(",")), resume=args.resume,
            progress=not args.quiet, sweep=args.sweep)
    return 0
