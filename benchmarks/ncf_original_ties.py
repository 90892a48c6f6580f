"""What He et al.'s evaluate.py reports for a model that scores every item the same (runs under Python 2 and 3).

Their eval_one_rating appends the positive after the 99 negatives, stores the scores in a dict keyed by
item id and keeps heapq.nlargest(10, scores, key=scores.get): among ties, the item met first in the
dict's iteration order wins. Python 2 iterates a dict of ints in hash-slot order, Python 3.7+ in
insertion order (the positive last), so the same code gives a constant model different HR@10. hncf's
rank_of_positive counts every tie against the positive (HR@10 0).

    python2 benchmarks/ncf_original_ties.py ../shared/data/ncf-he2017/ml-1m.test.negative \
        --out benchmarks/results/ncf_original_ties_py2.json
"""

from __future__ import division, print_function

import heapq
import json
import math
import platform
import sys


def constant_model_hr_ndcg(path, k=10):
    """(rows, HR@k, NDCG@k) of evaluate.py's ranking when every prediction is the same."""
    hits, ndcgs = [], []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            gt = int(parts[0].strip("()").split(",")[1])
            items = [int(x) for x in parts[1:] if x != ""] + [gt]
            map_item_score = {}
            for item in items:
                map_item_score[item] = 0.5
            ranklist = heapq.nlargest(k, map_item_score, key=map_item_score.get)
            hits.append(1 if gt in ranklist else 0)
            ndcgs.append(math.log(2) / math.log(ranklist.index(gt) + 2) if gt in ranklist else 0.0)
    return len(hits), sum(hits) / len(hits), sum(ndcgs) / len(ndcgs)


def main(argv):
    path = argv[0]
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    rows, hr, ndcg = constant_model_hr_ndcg(path)
    result = {"python": platform.python_version(), "test_file": path.split("/")[-1], "rows": rows,
              "model": "every item scored the same", "hr@10": hr, "ndcg@10": ndcg}
    print(json.dumps(result, indent=1, sort_keys=True, separators=(",", ": ")))
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True, separators=(",", ": "))
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
