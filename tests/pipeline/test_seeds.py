"""Seed summaries: mean ± sd per row, paired differences, and the one markdown table both benchmarks print."""

from __future__ import annotations

import pytest

from hncf.pipeline.seeds import seeds_markdown, summarise_seeds, summary_columns


def _report(seed: int, a_hr: float, b_hr: float, a_auc: float, b_auc: float) -> dict:
    rows = {"a": {"metrics": {"hr@10": a_hr, "auc": a_auc}, "train_seconds": 10.0 + seed, "best_epoch": 2},
            "b": {"metrics": {"hr@10": b_hr, "auc": b_auc}, "train_seconds": 20.0, "best_epoch": 3}}
    return {"seed": seed, "protocols": {"loo": {"models": rows}}}


@pytest.fixture
def summary():
    reports = [_report(0, 0.50, 0.40, 0.90, 0.80), _report(1, 0.70, 0.40, 0.92, 0.84)]
    return summarise_seeds(reports, [("HR@10", "loo", "hr@10"), ("AUC", "loo", "auc")], ["a", "b", "missing"],
                           pairs=[("a", "b", "a over b")])


def test_the_summary_holds_mean_sd_and_paired_differences(summary):
    assert list(summary["rows"]) == ["a", "b"]  # a row absent from the reports is left out
    hr = summary["rows"]["a"]["HR@10"]
    assert hr["mean"] == pytest.approx(0.6) and hr["sd"] == pytest.approx(0.1414214, rel=1e-6)  # sample sd
    d = summary["paired_differences"]["a over b"]["HR@10"]
    assert d["values"] == pytest.approx([0.1, 0.3]) and d["mean"] == pytest.approx(0.2)
    assert summary_columns(summary) == ["HR@10", "AUC"]


def test_seeds_markdown_prints_the_table_and_the_differences(summary):
    md = seeds_markdown(summary, label=str.upper, beside=lambda row: {"paper": {"a": 0.5}.get(row)},
                        extra_rows=[{"model": "published", "HR@10": 0.45}], train_seconds=True,
                        order=["model", "paper", "HR@10", "AUC", "train s"], differences="## Differences")
    assert md == (
        "| model | paper | HR@10 | AUC | train s |\n"
        "|:---|---:|:---|:---|:---|\n"
        "| A | 0.5000 | 0.600 ± 0.141 | 0.910 ± 0.014 | 10 |\n"
        "| B |  | 0.400 ± 0.000 | 0.820 ± 0.028 | 20 |\n"
        "| published |  | 0.4500 |  |  |\n"
        "\n\n## Differences\n\n"
        "| difference | HR@10 | AUC |\n"
        "|:---|:---|:---|\n"
        "| a over b | 0.200 ± 0.141 | 0.090 ± 0.014 |\n")


def test_seeds_markdown_defaults_every_metric_and_no_differences_table():
    summary = summarise_seeds([_report(0, 0.5, 0.4, 0.9, 0.8)], [("HR@10", "loo", "hr@10")], ["a"])
    md = seeds_markdown(summary, digits=2)
    assert md == "| model | HR@10 |\n|:---|:---|\n| a | 0.50 ± 0.00 |\n"


def test_seed_runs_from_args_reads_each_folder_and_names_one_without_a_report(tmp_path, capsys):
    import json

    from hncf.pipeline.seeds import seed_runs_from_args

    for seed in (0, 1):
        (tmp_path / f"s{seed}").mkdir()
        (tmp_path / f"s{seed}" / "metrics.json").write_text(json.dumps(_report(seed, 0.5, 0.4, 0.9, 0.8)))
    reports, out = seed_runs_from_args([str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", "x.json"], "d",
                                       "reproduce x", "default.json")
    assert [r["seed"] for r in reports] == [0, 1] and out.name == "x.json"
    with pytest.raises(SystemExit) as stop:
        seed_runs_from_args([str(tmp_path / "nowhere")], "d", "reproduce x", "default.json")
    assert stop.value.code == 2 and "finished `reproduce x` run" in capsys.readouterr().err


def test_seeds_markdown_puts_a_note_between_the_table_and_the_differences(summary):
    md = seeds_markdown(summary, note="*Reference only:* 0.1.", differences="## Differences")
    table_end, note, diffs = md.index("| b |"), md.index("*Reference only:*"), md.index("## Differences")
    assert table_end < note < diffs
