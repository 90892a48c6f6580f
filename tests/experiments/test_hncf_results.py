"""HNCF's results table follows the dataset run: Table III beside ours only on ML-20M, else a reference line."""

from __future__ import annotations

import pytest

from hncf.experiments.hncf import PAPER_TABLE3, paper_beside, paper_note, paper_rows, results_markdown


def _report(dataset: str) -> dict:
    views = {"loo": {"hr@10": 0.7391, "ndcg@10": 0.4761}, "classification": {"recall": 0.6051, "auc": 0.9172}}
    protocols = {name: {"paper": paper_rows(name, dataset), "models": {
        "ncf": {"metrics": m, **({"train_seconds": 8.0} if name == "loo" else {})}}} for name, m in views.items()}
    return {"dataset": dataset, "preset": "default", "seed": 0, "text_encoder": "minilm", "poster_encoder": "vgg16",
            "image_weights": "none", "protocols": protocols}


def test_table_iii_belongs_beside_ml20m_and_its_samples_only():
    assert paper_beside("ml-20m") and paper_beside("ml-20m-1pct")
    assert not any(paper_beside(d) for d in ("ml-latest-small", "ml-1m", "ml-25m", "synthetic"))
    assert paper_rows("loo", "ml-20m")["hncf"] == {"hr@10": PAPER_TABLE3["hncf"]["hr@10"]}
    assert paper_rows("classification", "ml-20m")["ncf"] == {"recall": PAPER_TABLE3["ncf"]["recall"]}
    assert paper_rows("full_ranking", "ml-20m") == {} and paper_rows("loo", "ml-latest-small") == {}


def test_on_ml20m_the_paper_columns_stand_beside_ours():
    md = results_markdown(_report("ml-20m"))
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "| paper recall | recall |" in header and "| paper HR@10 | HR@10 (1+99) |" in header
    row = next(line for line in md.splitlines() if line.startswith("| NCF (ids)"))
    assert "0.4490" in row and "0.1610" in row and "0.7391" in row
    assert "whole of ML-20M" in md and "Reference only" not in md


@pytest.mark.parametrize("dataset", ["ml-latest-small", "ml-1m"])
def test_elsewhere_the_paper_is_a_labelled_reference_line_not_a_column(dataset):
    md = results_markdown(_report(dataset))
    assert "paper recall" not in md and "paper HR@10" not in md
    row = next(line for line in md.splitlines() if line.startswith("| NCF (ids)"))
    assert "0.4490" not in row and "0.7391" in row
    assert f"1% sample of ML-20M, not on {dataset}" in md
    reference = next(line for line in md.splitlines() if line.startswith("*Reference only"))
    assert all(f"{p['recall']:.3f}" in reference and f"{p['hr@10']:.3f}" in reference for p in PAPER_TABLE3.values())
    assert paper_note(dataset) in md
