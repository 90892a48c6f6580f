"""Results tables in a markdown file, regenerated from the runs' ``metrics.json`` so they cannot drift.

A block in the file names its source::

    <!-- hncf:report benchmarks/results/ncf_ml100k_seed0/metrics.json -->
    ...generated, replaced on every run...
    <!-- hncf:end -->

:func:`render_report` turns one report into markdown with its system's own ``results_markdown``
and a line naming the machine, seed and dataset; :func:`update_markdown` rewrites every block.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

# system -> "module" whose results_markdown(report) renders its tables, or "module:function"
RENDERERS = {"ncf": "hncf.experiments.ncf", "hncf": "hncf.experiments.hncf", "bert-rs": "hncf.experiments.bert_rs",
             "query": "hncf.experiments.query:report_markdown"}
START = re.compile(r"<!-- hncf:report (?P<src>\S+) -->")
END = "<!-- hncf:end -->"


def provenance(report: dict) -> str:
    """One line saying where and how the numbers were measured."""
    m = report.get("machine", {})
    where = f"{m.get('cpus', '?')} CPUs ({m.get('processor', '?')})" + (f", GPUs {m['gpus']}" if m.get("gpus") else "")
    seeds = report.get("seeds") or [report.get("seed", "?")]
    seed = f"seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return (f"*Measured by `reproduce {report['system']}` on {report['dataset']}, preset {report['preset']}, "
            f"{seed}; {where}, TensorFlow {m.get('tensorflow', '?')}; wall time "
            f"{report.get('wall_seconds', float('nan')):.0f} s.*")


def render_report(report: dict, heading_level: int = 4) -> str:
    """The system's results tables for ``report`` followed by its provenance line."""
    system = report.get("system")
    if system not in RENDERERS:
        raise ValueError(f"no renderer for system {system!r}; known: {', '.join(RENDERERS)}")
    module, _, function = RENDERERS[system].partition(":")
    md = getattr(importlib.import_module(module), function or "results_markdown")(report)
    # The tables sit under a README section: demote their headings below it.
    md = re.sub(r"^(#+) ", lambda h: "#" * (len(h.group(1)) + heading_level - 1) + " ", md, flags=re.M)
    return md.rstrip() + "\n\n" + provenance(report) + "\n"


def marker_blocks(path, text: str) -> list[tuple[int, int, str]]:
    """``(start line, end line, source)`` of each block, 1-based.

    A marker is a line of its own (a mention inside prose is not). A start marker without its
    end, an end without a start, or a line starting ``<!-- hncf:`` that is neither is an error
    naming the file, the marker and its line: a silently skipped block would leave stale numbers.
    """
    blocks, opened = [], None
    for n, line in enumerate(text.splitlines(), 1):
        marker = line.strip()
        if not marker.startswith("<!-- hncf:"):
            continue
        start = START.fullmatch(marker)
        if start and opened:
            raise ValueError(f"{path}, line {opened[0]}: {opened[2]} has no {END} before the next block starts "
                             f"at line {n}")
        if start:
            opened = (n, start.group("src"), marker)
        elif marker == END and opened:
            blocks.append((opened[0], n, opened[1]))
            opened = None
        elif marker == END:
            raise ValueError(f"{path}, line {n}: {END} closes no <!-- hncf:report FILE --> block")
        else:
            raise ValueError(f"{path}, line {n}: {marker!r} is not a marker hncf knows; a block is "
                             f"<!-- hncf:report FILE --> ... {END}, each on a line of its own")
    if opened:
        raise ValueError(f"{path}, line {opened[0]}: {opened[2]} has no {END} before the end of the file")
    return blocks


def update_markdown(path, root=None) -> list[str]:
    """Rewrite every ``hncf:report`` block of the file at ``path``; returns the sources used.

    Sources are relative to ``root`` (default: the file's folder). A missing or unreadable
    source is an error naming the block, and the file is left untouched.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    text = path.read_text()
    sources = []
    lines = text.splitlines(keepends=True)
    out, done = [], 0
    for first, last, name in marker_blocks(path, text):
        try:
            report = json.loads((root / name).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}, line {first}: the block for {name} cannot be regenerated: {e}") from e
        sources.append(name)
        out += lines[done:first] + [render_report(report)]
        done = last - 1  # the end marker's line stays
    new = "".join(out + lines[done:])
    if new != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(new)
        tmp.replace(path)
    return sources
