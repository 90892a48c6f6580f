"""``report``: regenerate results tables from runs' metrics.json (into the README, or printed)."""

from __future__ import annotations

HELP = "regenerate the README's results tables from the runs' metrics.json (or print one run's tables)"
EXAMPLES = """examples:
  python -m hncf report --readme README.md
  python -m hncf report runs/ncf-ml-100k-default/metrics.json"""


def add_arguments(p) -> None:
    """The command's flags."""
    p.add_argument("reports", nargs="*", help="metrics.json files to print as markdown")
    p.add_argument("--readme", default=None,
                   help="rewrite every '<!-- hncf:report FILE -->' block of this markdown file from FILE")


def run_from_args(args) -> int:
    """Print or rewrite."""
    import json
    from pathlib import Path

    from hncf.pipeline.readme import render_report, update_markdown

    if not args.reports and not args.readme:
        raise ValueError("give metrics.json files to print, or --readme FILE to regenerate")
    for report in args.reports:
        try:
            print(render_report(json.loads(Path(report).read_text())))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{report}: {e}") from e
    if args.readme:
        used = update_markdown(args.readme, root=Path(args.readme).parent)
        print(f"hncf: regenerated {len(used)} table(s) in {args.readme} from {', '.join(used) or 'nothing'}")
    return 0
