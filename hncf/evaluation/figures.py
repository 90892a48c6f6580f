"""Figures a reader would rather look at than read: a grid of movie posters with the missing ones marked.

Figures are built on the Agg canvas directly (no pyplot state), returned to the caller, and
shown inline by Jupyter; ``fig.savefig(path)`` writes a PNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POSTER_MISSING = "no poster file"
POSTER_UNREADABLE = "unreadable file"


def plot_poster_grid(index, item_ids, titles: Sequence[str] | None = None, ncols: int = 6,
                     size: tuple[int, int] = (120, 80), tile_inches: float = 1.6):
    """A matplotlib ``Figure`` with one tile per movie of ``item_ids`` (raw ids), in order.

    ``index`` is a :class:`hncf.data.posters.PosterIndex`. A decodable poster is drawn as is
    (resized to ``size`` = (height, width) pixels); a movie without a file gets a grey tile
    marked "no poster file", one whose file exists but does not decode a red-edged tile
    marked "unreadable file". ``titles`` (same length as ``item_ids``) caption the tiles
    (default: the ids). The figure's ``poster_status`` attribute lists each tile's status
    (``"ok"``, ``"missing"`` or ``"unreadable"``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hncf.data.posters import load_posters

    ids = np.asarray(item_ids).ravel()
    if len(ids) == 0:
        raise ValueError("item_ids is empty: no posters to show")
    if titles is not None and len(titles) != len(ids):
        raise ValueError(f"titles has {len(titles)} entries for {len(ids)} item ids")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    batch = load_posters(index, ids, size=size, mode="raw", progress=False)
    has_file = np.array([p is not None for p in index.paths(ids)])
    status = np.where(batch.mask, "ok", np.where(has_file, "unreadable", "missing"))

    ncols = min(ncols, len(ids))
    nrows = -(-len(ids) // ncols)
    aspect = size[0] / size[1]
    fig = Figure(figsize=(ncols * tile_inches, nrows * tile_inches * aspect + 0.4 * nrows), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(ids):
            ax.set_axis_off()
            continue
        caption = str(ids[k] if titles is None else titles[k])
        ax.set_title(caption if len(caption) <= 22 else caption[:21] + "…", fontsize=7)
        if status[k] == "ok":
            ax.imshow(batch.images[k].astype(np.uint8))
            continue
        ax.imshow(np.full((*size, 3), 0.85), vmin=0, vmax=1)
        label = POSTER_MISSING if status[k] == "missing" else POSTER_UNREADABLE
        ax.text(size[1] / 2, size[0] / 2, label.replace(" ", "\n", 1), ha="center", va="center", fontsize=8,
                color="dimgray" if status[k] == "missing" else "darkred")
        if status[k] == "unreadable":
            for spine in ax.spines.values():
                spine.set_edgecolor("darkred")
                spine.set_linewidth(2)
    n_missing, n_bad = int((status == "missing").sum()), int((status == "unreadable").sum())
    fig.suptitle(f"{len(ids)} posters: {len(ids) - n_missing - n_bad} shown, {n_missing} without a file, "
                 f"{n_bad} unreadable", fontsize=9)
    fig.tight_layout()
    fig.poster_status = status.tolist()
    return fig
