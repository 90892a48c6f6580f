"""``recommend-text``: answer a typed request from a saved query model (``reproduce query`` writes one)."""

from __future__ import annotations

from hncf.cli import positive_int

HELP = "ranked movies for a free-text request, from a model saved by 'reproduce query'"
EXAMPLES = """examples:
  python -m hncf recommend-text --model runs/query-redial-default/model "I loved Up and Toy Story, something artistic"
  python -m hncf recommend-text --model DIR --k 5 "a scary movie like @204334\""""


def add_arguments(p) -> None:
    """The command's flags."""
    p.add_argument("--model", required=True, help="the model folder (<out>/model of reproduce query)")
    p.add_argument("--k", type=positive_int, default=10, help="how many movies (default 10)")
    p.add_argument("--text-encoder", default=None, help="override the text encoder path stored in the model folder")
    p.add_argument("--exclude-mentioned", action="store_true", help="never recommend a movie named in the request")
    p.add_argument("text", help="the request, e.g. \"I loved Up and Toy Story, something artistic please\"")


def run_from_args(args) -> int:
    """Load the model, answer, print the list."""
    from hncf.serving.query import load_query_model, recommend_from_text

    qm = load_query_model(args.model, args.text_encoder)
    top = recommend_from_text(qm, args.text, k=args.k, exclude_mentioned=args.exclude_mentioned)
    if top.attrs["recognised"]:
        print("recognised: " + "; ".join(top.attrs["recognised"]))
    for row in top.itertuples():
        print(f"{row.rank:>3}. {row.title}  (@{row.movie_id}, score {row.score:.3f})")
    return 0
