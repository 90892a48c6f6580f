"""``reproduce bert-rs``: BERT-RS (the second paper) on Amazon reviews, paper-literal and deployable."""

from __future__ import annotations

from hncf.cli import positive_int

HELP = "BERT-RS: review BERT + GMF + MLP on Amazon reviews, with the paper's leak closed (both modes reported)"
DATASETS = None
PRESETS = ("default", "paper", "tiny")
EXAMPLES = """examples:
  python -m hncf reproduce bert-rs --reviews reviews_Musical_Instruments_5.json.gz
  python -m hncf reproduce bert-rs --reviews reviews_Books.json.gz --min-user-reviews 20 --min-item-reviews 10 \\
      --sample-users 10000 --text-encoder bert_base_en_uncased --text-pooling cls"""


def add_arguments(p) -> None:
    """BERT-RS's own flags."""
    g = p.add_argument_group("bert-rs options")
    g.add_argument("--reviews", required=True,
                   help="review file (one JSON object per line, plain or .gz; 2014 or 2018 field names), or "
                        "'musical-instruments-5core-2014' to download it")
    g.add_argument("--mode", default="both", choices=("both", "deployable", "paper-literal"),
                   help="where the review vector of a scored pair comes from (default: train and report both)")
    g.add_argument("--protocols", default="loo,paper", help="comma list of: loo (1 + 99 sampled), paper (70/30, 1:1)")
    g.add_argument("--min-user-reviews", type=positive_int, default=5, help="k-core: reviews per user (paper: 20)")
    g.add_argument("--min-item-reviews", type=positive_int, default=5, help="k-core: reviews per item (paper: 10)")
    g.add_argument("--sample-users", type=positive_int, default=None, help="keep this many random users (paper: 10000)")
    g.add_argument("--text-encoder", default=None,
                   help="keras-hub preset, local folder or tfhub:<handle> (default: the offline all-MiniLM-L6-v2)")
    g.add_argument("--text-pooling", default="mean", choices=("cls", "mean"), help="pooled [CLS] or masked mean")
    g.add_argument("--review-tokens", type=positive_int, default=128,
                   help="word pieces of each review kept for BERT (at most the encoder's maximum)")
    g.add_argument("--cache-dir", default=None, help="review-vector cache (default $HNCF_CACHE_DIR/features)")


def run_from_args(args) -> int:
    """Run the BERT-RS reproduction from parsed flags."""
    from pathlib import Path

    from hncf.experiments.bert_rs import MODES, run_bert_rs

    run_bert_rs(reviews=args.reviews, dataset=args.dataset or Path(args.reviews).name.split(".")[0],
                modes=MODES if args.mode == "both" else (args.mode,),
                protocols=tuple(p.strip() for p in args.protocols.split(",") if p.strip()),
                min_user_reviews=args.min_user_reviews, min_item_reviews=args.min_item_reviews,
                n_users=args.sample_users, text_encoder=args.text_encoder, text_pooling=args.text_pooling,
                review_tokens=args.review_tokens,
                preset=args.preset, epochs=args.epochs, out_dir=args.out, seed=args.seed, cache_dir=args.cache_dir,
                resume=args.resume, progress=not args.quiet)
    return 0
