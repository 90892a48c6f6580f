"""Evaluation: NumPy metrics, the four protocols, and result tables/plots.

NumPy only (no TensorFlow import), so evaluating saved predictions stays light.
"""

from hncf.evaluation.metrics import (
    auc,
    classification_report,
    hit_ratio_at_k,
    hr_ndcg_from_ranks,
    mae,
    map_at_k,
    map_recommenders,
    mrr,
    ndcg_at_k,
    precision_at_k,
    rank_of_positive,
    recall_at_k,
    rmse,
)
from hncf.evaluation.protocols import (
    TopK,
    as_row_lists,
    evaluate_classification,
    evaluate_full_ranking,
    evaluate_rating,
    evaluate_rows,
    evaluate_sampled,
    top_k_items,
    top_k_rows,
)
from hncf.evaluation.reports import (
    comparison_table,
    format_value,
    markdown_table,
    plot_metric_bars,
    plot_training_curves,
    write_json,
)

__all__ = [
    "auc",
    "classification_report",
    "hit_ratio_at_k",
    "hr_ndcg_from_ranks",
    "mae",
    "map_at_k",
    "map_recommenders",
    "mrr",
    "ndcg_at_k",
    "precision_at_k",
    "rank_of_positive",
    "recall_at_k",
    "rmse",
    "TopK",
    "evaluate_classification",
    "evaluate_full_ranking",
    "evaluate_rating",
    "evaluate_sampled",
    "top_k_items",
    "top_k_rows",
    "evaluate_rows",
    "as_row_lists",
    "comparison_table",
    "format_value",
    "markdown_table",
    "plot_metric_bars",
    "plot_training_curves",
    "write_json",
]
