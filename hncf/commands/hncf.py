"""``reproduce hncf``: the HNCF ablation (ids, + BERT text, + VGG16 posters) on MovieLens."""

from __future__ import annotations

from hncf.cli import positive_float

HELP = "HNCF: user/movie ids + BERT on movie text + frozen VGG16 on posters (NCF / BERT-NCF / HNCF rows)"
DATASETS = ("ml-latest-small", "ml-100k", "ml-1m", "ml-20m", "ml-25m")
DEFAULT_DATASET = "ml-latest-small"
PRESETS = ("default", "paper", "tiny")
VARIANTS = ("ncf", "bert_ncf", "hncf", "hncf_flag_only")
EXAMPLES = """examples:
  python -m hncf reproduce hncf --data-dir ~/data/ml-latest-small --posters ~/data/posters
  python -m hncf reproduce hncf --mode end-to-end --fine-tune-text --learning-rate 2e-5 --variants bert_ncf"""


def _variants(text: str) -> tuple[str, ...]:
    import argparse

    names = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown row(s) {unknown}; choose from {', '.join(VARIANTS)}")
    return names


def add_arguments(p) -> None:
    """HNCF's own flags."""
    g = p.add_argument_group("hncf options")
    g.add_argument("--posters", default=None, help="folder of <movieId>.jpg posters (without it: no poster rows)")
    g.add_argument("--text-encoder", default="bert_base_en_uncased",
                   help="keras-hub preset name, local directory (keras-hub preset or Hugging Face BERT), "
                        "or tfhub:<encoder handle>[|<preprocess handle>]")
    g.add_argument("--text-pooling", default="cls", choices=("cls", "mean"),
                   help="[CLS]/pooled output (the paper's) or masked mean (sentence-transformers models)")
    g.add_argument("--image-weights", default="imagenet", help="imagenet | none | path to VGG16 weights")
    g.add_argument("--mode", default="cached", choices=("cached", "end-to-end"),
                   help="train on cached item vectors (fast), or run text and posters through the encoders every "
                        "batch (the paper's way; needed to fine-tune BERT)")
    g.add_argument("--fine-tune-text", action="store_true",
                   help="with --mode end-to-end: train the BERT weights too (use a small --learning-rate)")
    g.add_argument("--learning-rate", type=positive_float, default=None, help="override the preset's learning rate")
    g.add_argument("--variants", type=_variants, default=None,
                   help=f"comma list of rows to train: {', '.join(VARIANTS)} (default: every row the mode can train)")
    g.add_argument("--no-full-ranking", action="store_true", help="skip the full-ranking protocol")
    g.add_argument("--cache-dir", default=None, help="item-feature cache (default $HNCF_CACHE_DIR/features)")


def run_from_args(args) -> int:
    """Run the HNCF ablation from parsed flags."""
    from hncf.experiments.hncf import run_hncf

    run_hncf(dataset=args.dataset, data_dir=args.data_dir, posters=args.posters, text_encoder=args.text_encoder,
             text_pooling=args.text_pooling, image_weights=args.image_weights, preset=args.preset,
             epochs=args.epochs, out_dir=args.out, seed=args.seed, full_ranking=not args.no_full_ranking,
             cache_dir=args.cache_dir, resume=args.resume, progress=not args.quiet, mode=args.mode,
             fine_tune_text=args.fine_tune_text, learning_rate=args.learning_rate, variants=args.variants)
    return 0
