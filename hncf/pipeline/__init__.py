"""The stages every system shares, each a public function an experiment calls in order:

load -> :mod:`~hncf.pipeline.splits` (a protocol's split, its validation carve-out and saved
negatives, ids encoded) -> features -> build -> :mod:`~hncf.pipeline.selection` (select the epoch on
validation, refit, record; :mod:`~hncf.pipeline.rating` gives rating models its validation RMSE and
batches) -> evaluate (:mod:`hncf.evaluation`) -> :mod:`~hncf.pipeline.report`
(one report schema; metrics.json, results.md, plots).
"""

from hncf.pipeline.report import log, write_outputs
from hncf.pipeline.rating import RatingRows, RatingValidation, fit_rating_model
from hncf.pipeline.selection import select_then_refit
from hncf.pipeline.splits import PreparedSplit, carve_validation, encode_split, prepare_chrono, prepare_loo

__all__ = ["PreparedSplit", "carve_validation", "encode_split", "prepare_chrono", "prepare_loo", "select_then_refit",
           "RatingRows", "RatingValidation", "fit_rating_model", "log", "write_outputs"]
