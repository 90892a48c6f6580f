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
BLOCK = re.compile(r"(<!-- hncf:report (?P<src>\S+) -->\n)(?P<body>.*?)(<!-- hncf:end -->)", re.S)


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


def update_markdown(path, root=None) -> list[str]:
    """Rewrite every ``hncf:report`` block of the file at ``path``; returns the sources used.

    Sources are relative to ``root`` (default: the file's folder). A missing or unreadable
    source is an error naming the block, and the file is left untouched.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    text = path.read_text()
    sources = []

    def replace(m: re.Match) -> str:
        src = root / m.group("src")
        try:
            report = json.loads(src.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: the block for {m.group('src')} cannot be regenerated: {e}") from e
        sources.append(m.group("src"))
        return m.group(1) + render_report(report) + m.group(4)

    new = BLOCK.sub(replace, text)
    if new != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(new)
        tmp.replace(path)
    return sources
