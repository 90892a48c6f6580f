"""``reproduce query``: the BERT query recommender on ReDial (BERT / + RNN / + tags rows and four baselines)."""

from __future__ import annotations

import argparse

from hncf.cli import positive_float

HELP = "BERT query recommender: ranked movies from a free-text request (ReDial), + mentioned-movie GRU, + tag task"
DATASETS = ("redial",)
DEFAULT_DATASET = "redial"
PRESETS = ("default", "paper", "tiny")
VARIANTS = ("bert", "rnn", "tags")
EXAMPLES = """examples:
  python -m hncf reproduce query --dialogues a.jsonl,b.jsonl --movielens ~/data/ml-latest-small --seeds 0,1,2
  python -m hncf reproduce query --data-dir ~/data/redial --examples turn --variant rnn
  python -m hncf reproduce query --dialogues a.jsonl,b.jsonl --test-file unseen.jsonl --variant rnn"""


def _variants(text: str) -> tuple:
    names = VARIANTS if text == "all" else tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)} or all")
    return names


def _seeds(text: str) -> tuple:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes a comma list of integers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds is empty")
    return seeds


def add_arguments(p) -> None:
    """The query recommender's own flags."""
    g = p.add_argument_group("query options")
    g.add_argument("--dialogues", default=None,
                   help="ReDial JSON-lines file(s), comma separated (else --data-dir, else the official archive); "
                        "movies_with_mentions.csv is read from the first file's folder")
    g.add_argument("--test-file", default=None,
                   help="score this dialogue file, never split or seen; --dialogues are then all train/validation")
    g.add_argument("--movielens", default=None,
                   help="MovieLens folder with movies.csv and tags.csv: title join, movie texts and the tag task")
    g.add_argument("--variant", type=_variants, default=VARIANTS, help="bert | rnn | tags | all, or a comma list")
    g.add_argument("--examples", default="dialogue", choices=("dialogue", "turn"),
                   help="one example per dialogue (the paper's) or per recommending turn (CRSLab's)")
    g.add_argument("--text-encoder", default=None,
                   help="keras-hub preset, local BERT folder or tfhub:... (default: the offline MiniLM files)")
    g.add_argument("--text-pooling", default="mean", choices=("cls", "mean"),
                   help="[CLS]/pooled output (the paper's) or masked mean (sentence-transformers models)")
    g.add_argument("--seeds", type=_seeds, default=None, help="comma list of seeds (default: --seed)")
    g.add_argument("--learning-rate", type=positive_float, default=None, help="override the preset's learning rate")
    g.add_argument("--baselines-only", action="store_true", help="score the four baselines and train nothing")
    g.add_argument("--no-checkpoints", action="store_true",
                   help="skip the per-epoch checkpoints (faster on a busy machine; no --resume then)")
    g.add_argument("--mention-style", default=None, choices=("title", "token"),
                   help="how mentions (@id) appear in the request text: the movie's title or the raw token "
                        "(default: the preset's; title in default, token in paper)")
    g.add_argument("--cache-dir", default=None, help="text-vector cache (default $HNCF_CACHE_DIR/features)")


def run_from_args(args) -> int:
    """Run the experiment from parsed flags."""
    from hncf.experiments.query import run_query

    run_query(dialogues=args.dialogues, data_dir=args.data_dir, test_file=args.test_file, movielens=args.movielens,
              variants=args.variant, construction=args.examples, text_encoder=args.text_encoder,
              text_pooling=args.text_pooling, preset=args.preset, epochs=args.epochs,
              seeds=args.seeds or (args.seed,), out_dir=args.out, cache_dir=args.cache_dir,
              progress=not args.quiet, resume=args.resume, learning_rate=args.learning_rate,
              baselines_only=args.baselines_only, checkpoints=not args.no_checkpoints,
              mention_style=args.mention_style)
    return 0
