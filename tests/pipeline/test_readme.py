"""README tables come from metrics.json files, so they cannot drift from the runs."""

import json

import pytest

from hncf.cli import main
from hncf.pipeline.readme import render_report, update_markdown

REPORT = {
    "system": "ncf", "dataset": "ml-100k", "preset": "default", "seed": 3, "wall_seconds": 12.0,
    "machine": {"cpus": 2, "processor": "x86_64", "tensorflow": "2.21.0"},
    "protocols": {"loo": {"n_test": 5, "paper": {}, "models": {"GMF": {
        "metrics": {"hr@1": 0.1, "hr@5": 0.3, "hr@10": 0.61234, "ndcg@10": 0.4, "mrr": 0.2},
        "epochs": 3, "best_epoch": 2, "train_seconds": 1.5}}}},
}


def test_render_names_the_machine_seed_and_dataset():
    md = render_report(REPORT)
    assert "0.6123" in md and "seed 3" in md and "2 CPUs" in md and "ml-100k" in md
    assert md.startswith("#### NCF reproduction")  # headings demoted under the README's section


def test_query_reports_render_with_their_seeds_and_paired_differences():
    def seed_result(bert, pop):
        row = lambda v: {m: v for m in ("ndcg@10", "recall@1", "recall@10", "recall@50", "hr@10", "mrr")}  # noqa: E731
        return {"bert": {"all": row(bert), "new": row(bert / 2), "validation_ndcg@10": 0.2},
                "popularity": {"all": row(pop), "new": row(pop)}}
    report = {"system": "query", "dataset": "redial", "preset": "default", "seeds": [0, 1], "wall_seconds": 5.0,
              "construction": "dialogue", "variants": ["bert"], "splits": [{"description": "7/1/2 dialogues"}],
              "machine": {"cpus": 2, "processor": "x86_64", "tensorflow": "2.21.0"},
              "per_seed": [seed_result(0.3, 0.1), seed_result(0.2, 0.1)]}
    md = render_report(report)
    assert "seeds 0, 1" in md and "one example per dialogue" in md
    assert "| bert | 0.2500 ± 0.0707" in md and "+0.1500 ± 0.0707" in md


def test_update_rewrites_only_the_marked_blocks_from_their_source(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "m.json").write_text(json.dumps(REPORT))
    readme = tmp_path / "README.md"
    readme.write_text("# Title\nkeep me\n<!-- hncf:report runs/m.json -->\nstale 0.9999\n<!-- hncf:end -->\ntail\n")
    assert update_markdown(readme) == ["runs/m.json"]
    text = readme.read_text()
    assert "stale" not in text and "0.6123" in text and text.startswith("# Title\nkeep me\n") and text.endswith("tail\n")
    assert update_markdown(readme) == ["runs/m.json"] and readme.read_text() == text  # idempotent


def test_a_missing_source_names_the_block_and_leaves_the_file(tmp_path):
    readme = tmp_path / "README.md"
    original = "<!-- hncf:report nowhere.json -->\nold\n<!-- hncf:end -->\n"
    readme.write_text(original)
    with pytest.raises(ValueError, match="nowhere.json cannot be regenerated"):
        update_markdown(readme)
    assert readme.read_text() == original


@pytest.mark.parametrize("text, message", [
    ("intro\n<!-- hncf:report runs/m.json -->\nold\n",
     r"README.md, line 2: <!-- hncf:report runs/m.json --> has no <!-- hncf:end --> before the end of the file"),
    # Without the check the first block's body would run on to the second block's end, swallowing its start.
    ("<!-- hncf:report runs/m.json -->\nold\n<!-- hncf:report runs/m.json -->\nold\n<!-- hncf:end -->\n",
     r"line 1: <!-- hncf:report runs/m.json --> has no <!-- hncf:end --> before the next block starts at line 3"),
    ("a\n<!-- hncf:end -->\n", r"line 2: <!-- hncf:end --> closes no"),
    ("<!-- hncf:report -->\nold\n<!-- hncf:end -->\n", r"line 1: '<!-- hncf:report -->' is not a marker"),
])
def test_an_unclosed_stray_or_malformed_marker_names_its_line_and_leaves_the_file(text, message, tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "m.json").write_text(json.dumps(REPORT))
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(ValueError, match=message):
        update_markdown(readme)
    assert readme.read_text() == text
    assert main(["report", "--readme", str(readme)]) == 1
    captured = capsys.readouterr()
    assert "regenerated" not in captured.out and "line" in captured.err


def test_a_marker_mentioned_inside_prose_is_not_a_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("Blocks between `<!-- hncf:report FILE -->` and `<!-- hncf:end -->` are generated.\n")
    assert update_markdown(readme) == []


def test_cli_report_prints_and_regenerates(tmp_path, capsys):
    src = tmp_path / "metrics.json"
    src.write_text(json.dumps(REPORT))
    assert main(["report", str(src)]) == 0
    assert "0.6123" in capsys.readouterr().out
    assert main(["report"]) == 1


def test_the_readme_tables_equal_their_metrics_files(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    copy = tmp_path / "README.md"
    copy.write_text((repo / "README.md").read_text())
    used = update_markdown(copy, root=repo)
    assert used, "the README has no generated table"
    assert copy.read_text() == (repo / "README.md").read_text(), "run: python -m hncf report --readme README.md"
