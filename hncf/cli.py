"""Command line: ``python -m hncf reproduce <system> ...``, ``python -m hncf datasets``, ...

Each system's flags live with the system (a module with ``HELP``, ``add_arguments(parser)`` and
``run_from_args(args)``), so ``reproduce ncf --help`` shows only NCF's flags and argparse rejects
another system's flag (exit 2). The flags every system shares are declared once here.

Errors a user can fix (unknown dataset, missing files, failed download, bad rows, a corrupt
checkpoint) print one ``hncf: error: ...`` line and exit with status 1; usage errors exit with
status 2 (argparse); Ctrl-C prints one line and exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
import sys
from pathlib import Path

# name -> module defining HELP, add_arguments(parser), run_from_args(args); one line per system.
REPRODUCE = {
    "ncf": "hncf.commands.ncf",
    "hncf": "hncf.commands.hncf",
    "bert-rs": "hncf.commands.bert_rs",
    "query": "hncf.commands.query",
    "content": "hncf.experiments.content",
}
# Other top-level commands, same module contract.
COMMANDS = {
    "datasets": "hncf.commands.datasets",
    "report": "hncf.commands.report",
    "serve": "hncf.serving.cli_serve",
    "recommend-text": "hncf.commands.recommend_text",
}

EXAMPLES = """examples:
  python -m hncf reproduce ncf --dataset ml-100k --data-dir ~/data/ml-100k
  python -m hncf reproduce hncf --posters ~/data/posters --preset default --seed 0
  python -m hncf datasets"""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf`` and ``nan`` parse as floats but train nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _common_flags(module) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("shared options")
    datasets = getattr(module, "DATASETS", None)
    default_dataset = getattr(module, "DEFAULT_DATASET", None)
    g.add_argument("--dataset", default=default_dataset, choices=datasets,
                   help=f"dataset name (default {default_dataset})" if default_dataset else "dataset name")
    g.add_argument("--data-dir", default=None,
                   help="local copy of the dataset (else $HNCF_DATA_DIR/<dataset>, else download)")
    presets = getattr(module, "PRESETS", ("default", "paper", "tiny"))
    g.add_argument("--preset", default="default", choices=tuple(presets), help="hyperparameter preset")
    g.add_argument("--epochs", type=positive_int, default=None, help="override the preset's epoch budget (>= 1)")
    g.add_argument("--seed", type=int, default=0, help="seed of splits, sampled negatives and initial weights")
    g.add_argument("--out", default=None, help="output folder (default runs/<system>-<dataset>-<preset>)")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --out (refused if they came from other settings)")
    g.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _load(module_name: str):
    return importlib.import_module(module_name)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: ``reproduce <system>`` sub-parsers plus the other commands."""
    p = argparse.ArgumentParser(prog="python -m hncf", description="hncf: hybrid neural collaborative filtering "
                                "recommenders (Keras 3).", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("reproduce", help="reproduce one paper's system end to end",
                       description="Reproduce one paper's system: load, split, train, evaluate, report.")
    systems = r.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    for name, module_name in REPRODUCE.items():
        module = _load(module_name)
        s = systems.add_parser(name, help=module.HELP, description=module.HELP, parents=[_common_flags(module)],
                               epilog=getattr(module, "EXAMPLES", None),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(s)
        s.set_defaults(_module=module_name)
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        c = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           epilog=getattr(module, "EXAMPLES", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(c)
        c.set_defaults(_module=module_name)
    return p


def prepare_out_dir(args) -> tuple[Path, bool]:
    """Resolve ``--out`` and check it can be written before any work; returns (folder, created here)."""
    dataset = getattr(args, "dataset", None) or "data"
    out = Path(args.out or os.path.join("runs", f"{args.system}-{dataset}-{args.preset}"))
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".hncf-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise ValueError(f"--out {out} cannot be written: {e.strerror or e}") from None
    args.out = str(out)
    return out, created


def _user_errors():
    from hncf.data.download import DownloadError
    from hncf.data.schema import SchemaError

    return (ValueError, KeyError, FileNotFoundError, DownloadError, SchemaError)


def _message(e: BaseException) -> str:
    from hncf.data.download import DownloadError, default_cache_dir

    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    if isinstance(e, DownloadError):
        msg += (f"\nhncf: no network? download the file by hand and pass --data-dir DIR (or set HNCF_DATA_DIR to "
                f"its parent folder); downloads are cached in {default_cache_dir()} (set HNCF_CACHE_DIR)")
    return msg


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (absl, oneDNN, CUDA probing) kept off stderr.

    Those lines are written before absl logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` does
    not reach them: the process's stderr is pointed at /dev/null for the import alone. Set
    ``HNCF_TF_LOGS=1`` to see them.
    """
    if "tensorflow" in sys.modules or os.environ.get("HNCF_TF_LOGS"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv=None) -> int:
    """Parse ``argv`` and run the command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    module = _load(args._module)
    if getattr(module, "NEEDS_TENSORFLOW", True):
        import_tensorflow_quietly()
    out, created = None, False
    try:
        if args.command == "reproduce":
            out, created = prepare_out_dir(args)
        status = module.run_from_args(args)
    except KeyboardInterrupt:
        print("hncf: interrupted" + ("; continue with --resume" if args.command == "reproduce" else ""),
              file=sys.stderr)
        return 130
    except _user_errors() as e:
        print(f"hncf: error: {_message(e)}", file=sys.stderr)
        if created and out is not None and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed before writing anything leaves no empty folder behind
        return 1
    return status if isinstance(status, int) else 0
