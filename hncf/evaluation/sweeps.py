"""A metric against a swept hyperparameter, one line per model (He et al.'s Figure 4)."""

from __future__ import annotations

import os
from pathlib import Path

from hncf.evaluation.reports import _save_png


def plot_factor_sweep(sweep: dict, path: str | os.PathLike, title: str | None = None,
                      metrics=("hr@10", "ndcg@10")) -> Path:
    """Write a PNG with one panel per metric: each model's value against the number of predictive factors.

    ``sweep`` is ``{"factors": [8, 16, ...], "curves": {model: {metric: [one value per factor]}}}``.
    The x axis is log2-spaced with the factors as ticks, as in the paper's figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    factors, curves = list(sweep["factors"]), sweep["curves"]
    if not factors or not curves:
        raise ValueError("the sweep has no factors or no curves: nothing to plot")
    for name, c in curves.items():
        for m in metrics:
            if len(c.get(m, ())) != len(factors):
                raise ValueError(f"curve {name!r} has {len(c.get(m, ()))} {m} values for {len(factors)} factors")
    fig = Figure(figsize=(10, 4), dpi=90)
    FigureCanvasAgg(fig)
    for ax, m in zip(fig.subplots(1, len(metrics)), metrics):
        for name, c in curves.items():
            style = {"linestyle": "--", "color": "grey"} if name == "Popularity" else {"marker": "o"}
            ax.plot(factors, c[m], label=name, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(factors, [str(f) for f in factors])
        ax.minorticks_off()
        ax.set(xlabel="predictive factors", ylabel=m.upper(), title=m.upper())
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)
