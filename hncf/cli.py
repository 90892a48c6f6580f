"""Command line: ``python -m hncf reproduce <system> ...``.

Errors a user can fix (unknown dataset, missing files, failed download, bad
rows) print one ``hncf: error: ...`` line and exit with status 1; usage
errors exit with status 2 (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys

SYSTEMS = ("ncf", "hncf")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hncf", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reproduce", help="reproduce one paper's system end to end")
    r.add_argument("system", choices=SYSTEMS, help="which paper's system")
    r.add_argument("--dataset", default=None,
                   help="dataset name: ml-100k, ml-1m, ml-20m, ml-25m, ml-latest-small "
                        "(default ml-100k for ncf, ml-latest-small for hncf)")
    r.add_argument("--data-dir", default=None,
                   help="local copy of the dataset (else $HNCF_DATA_DIR/<dataset>, else download)")
    r.add_argument("--preset", default="default", help="default | paper | tiny")
    r.add_argument("--epochs", type=int, default=None, help="override the preset's epoch budget")
    r.add_argument("--protocols", default="chrono,loo", help="ncf: comma list of: chrono, loo")
    r.add_argument("--posters", default=None, help="hncf: folder of <movieId>.jpg posters (without it: no poster rows)")
    r.add_argument("--text-encoder", default="bert_base_en_uncased",
                   help="hncf: keras-hub preset name, local directory (keras-hub preset or Hugging Face BERT), "
                        "or tfhub:<encoder handle>[|<preprocess handle>]")
    r.add_argument("--text-pooling", default="cls", choices=("cls", "mean"),
                   help="hncf: [CLS]/pooled output (the paper's) or masked mean (sentence-transformers models)")
    r.add_argument("--image-weights", default="imagenet", help="hncf: imagenet | none | path to VGG16 weights")
    r.add_argument("--mode", default="cached", choices=("cached", "end-to-end"),
                   help="hncf: train on cached item vectors (fast), or run text and posters through the "
                        "encoders every batch (the paper's way; needed to fine-tune BERT)")
    r.add_argument("--fine-tune-text", action="store_true",
                   help="hncf, with --mode end-to-end: train the BERT weights too (use a small --learning-rate)")
    r.add_argument("--learning-rate", type=float, default=None, help="hncf: override the preset's learning rate")
    r.add_argument("--variants", default=None,
                   help="hncf: comma list of rows to train: ncf, bert_ncf, hncf, hncf_flag_only (default: every row "
                        "the mode can train)")
    r.add_argument("--no-full-ranking", action="store_true", help="hncf: skip the full-ranking protocol")
    r.add_argument("--cache-dir", default=None, help="hncf: item-feature cache (default $HNCF_CACHE_DIR/features)")
    r.add_argument("--out", default=None, help="output folder (default runs/<system>-<dataset>-<preset>)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv=None) -> int:
    """Parse ``argv`` and run the command; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.system != "hncf":
        given = [flag for flag, used in (("--mode", args.mode != "cached"), ("--fine-tune-text", args.fine_tune_text),
                                         ("--learning-rate", args.learning_rate is not None),
                                         ("--variants", args.variants is not None)) if used]
        if given:
            parser.error(f"{', '.join(given)} only apply to 'reproduce hncf'")
    # Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hncf.data.download import DownloadError
    from hncf.data.schema import SchemaError

    dataset = args.dataset or ("ml-100k" if args.system == "ncf" else "ml-latest-small")
    run_name = f"{args.system}-{dataset}-{args.preset}" + ("-end-to-end" if args.mode == "end-to-end" else "")
    out = args.out or os.path.join("runs", run_name)
    try:
        if args.system == "hncf":
            from hncf.experiments.hncf import run_hncf

            run_hncf(dataset=dataset, data_dir=args.data_dir, posters=args.posters, text_encoder=args.text_encoder,
                     text_pooling=args.text_pooling, image_weights=args.image_weights, preset=args.preset,
                     epochs=args.epochs, out_dir=out, seed=args.seed, full_ranking=not args.no_full_ranking,
                     cache_dir=args.cache_dir, resume=args.resume, progress=not args.quiet, mode=args.mode,
                     fine_tune_text=args.fine_tune_text, learning_rate=args.learning_rate,
                     variants=None if args.variants is None else tuple(v.strip() for v in args.variants.split(",")))
        elif args.system == "ncf":
            from hncf.experiments.ncf import run_ncf

            run_ncf(dataset=dataset, data_dir=args.data_dir, preset=args.preset, epochs=args.epochs,
                    out_dir=out, seed=args.seed, protocols=tuple(p.strip() for p in args.protocols.split(",")),
                    resume=args.resume, progress=not args.quiet)
    except (ValueError, KeyError, FileNotFoundError, DownloadError, SchemaError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"hncf: error: {msg}", file=sys.stderr)
        return 1
    return 0
