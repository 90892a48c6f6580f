"""Training across devices and machines with ``tf.distribute``, and the NCF scale run.

``--strategy none|mirrored|multiworker`` (default: ``mirrored`` when more than one GPU is visible):

* ``none``: TensorFlow's default strategy (one device);
* ``mirrored``: :class:`tf.distribute.MirroredStrategy` over every local GPU (Kaggle's T4 x2), or
  over the logical CPUs when there is no GPU and more than one logical CPU is configured;
* ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`, one process per machine,
  configured by the ``TF_CONFIG`` environment variable (``{"cluster": {"worker": ["host:port", ...]},
  "task": {"type": "worker", "index": i}}``).

The model is built and compiled inside ``strategy.scope()``. ``batch_size`` is the *global* batch
(split evenly over the replicas), the learning rate scales linearly with it, and the training
stream (:class:`~hncf.generators.tf_negatives.TFNegativeSampler`) hands replica ``r`` slice ``r``
of the same global batch, a pure function of ``(seed, epoch, step)``. So one device, two devices
and two machines train on the same examples and reach the same weights up to float summation
order, checkpoints hold the same state, and a resumed run equals an uninterrupted one.

Run it: ``python -m hncf.distribute --ratings path/to/ml-20m/ratings.csv --model neumf``
(see ``--help``); the lead's ``reproduce ncf`` can call :func:`strategy_from_name` and
:func:`train_at_scale` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras  # importing TensorFlow does not initialise devices: configure_logical_cpus still works
import tensorflow as tf

STRATEGIES = ("none", "mirrored", "multiworker")


def configure_logical_cpus(n: int) -> None:
    """Split the CPU into ``n`` logical devices (for MirroredStrategy on a CPU-only machine or a test).

    Must run before TensorFlow initialises its devices (before any op): in a fresh process.
    """
    if n < 2:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        raise RuntimeError(f"cannot split the CPU into {n} logical devices once TensorFlow has started "
                           f"({e}): call configure_logical_cpus first, in a fresh process") from e


def default_strategy_name() -> str:
    """``mirrored`` when more than one GPU is visible, else ``none``."""
    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"


def _check_tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError('--strategy multiworker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                         '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' on the '
                         "first machine and index 1 on the second")
    try:
        cfg = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw[:200]!r}") from e
    workers = cfg.get("cluster", {}).get("worker") if isinstance(cfg, dict) else None
    task = cfg.get("task", {}) if isinstance(cfg, dict) else {}
    if not workers or not isinstance(workers, list):
        raise ValueError(f"TF_CONFIG has no cluster.worker list of host:port addresses: {raw[:200]!r}")
    index = task.get("index")
    if task.get("type") != "worker" or not isinstance(index, int) or not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG task must be {{'type': 'worker', 'index': 0..{len(workers) - 1}}}, "
                         f"got {task!r}")
    return cfg


def strategy_from_name(name: str | None = None):
    """The ``tf.distribute`` strategy for ``--strategy`` (None: :func:`default_strategy_name`)."""
    name = default_strategy_name() if name is None else name
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        cpus = tf.config.list_logical_devices("CPU")
        # ReductionToOneDevice: NCCL all-reduce is for GPUs only.
        return tf.distribute.MirroredStrategy([d.name for d in cpus],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multiworker":
        _check_tf_config()
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ValueError(f"unknown --strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def add_strategy_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--strategy`` to a parser (what ``reproduce ncf`` needs)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="tf.distribute strategy: none, mirrored (all local GPUs; the default with >1 GPU), "
                             "multiworker (one process per machine, configured by TF_CONFIG)")


def worker_info(strategy) -> tuple[int, int]:
    """``(task index, number of workers)`` of this process (``(0, 1)`` outside multi-worker runs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "cluster_spec", None):
        return 0, 1
    workers = resolver.cluster_spec().as_dict().get("worker", [])
    return int(resolver.task_id or 0), max(1, len(workers))


def checkpoint_dir_for(checkpoint_dir: str | os.PathLike | None, strategy) -> Path | None:
    """Worker 0 (the chief) checkpoints to ``checkpoint_dir``; other workers to ``worker-<i>`` inside it,
    so two workers never write one file, and each resumes from its own identical copy."""
    if checkpoint_dir is None:
        return None
    index, _ = worker_info(strategy)
    return Path(checkpoint_dir) if index == 0 else Path(checkpoint_dir) / f"worker-{index}"


# ---------------------------------------------------------------------------
# The loss: per-example BCE, so Keras scales it under a strategy
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _keras_multiworker_build_fix(strategy):
    """Let Keras 3.15 train under MultiWorkerMirroredStrategy (two bugs, worked around while the block runs).

    Before the first step Keras builds the model from ``strategy.reduce("MEAN", first_batch)``;
    MultiWorkerMirroredStrategy cannot reduce a dict of per-replica tensors ("Attempt to convert a
    value ({'user_id': PerReplica...}) with an unsupported type (<class 'dict'>) to a Tensor"), so
    ``fit`` fails. Only the batch's shapes and dtypes matter for the build, so this builds from the
    first local replica's batch instead. Then every training step reduces its scalar logs with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on a scalar: they are averaged over replicas.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def local_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (self.distribute_strategy.experimental_local_results(v)[0]
                               if isinstance(v, tf.distribute.DistributedValues) else v), batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_mean_over_replicas(values, strategy, reduction):
        if reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)
        # Keras reduces each scalar log with axis=0 ("Invalid reduction dimension 0 for input with
        # 0 dimensions"); the mean over replicas of the per-replica logs is what it means.
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = local_build
    tf_trainer.reduce_per_replica = reduce_mean_over_replicas
    try:
        yield
    finally:
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = original
        tf_trainer.reduce_per_replica = original_reduce


@keras.saving.register_keras_serializable(package="hncf")
class PointwiseBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of 1-D scores, one value per example.

    ``keras.losses.BinaryCrossentropy`` averages over the last axis, which for the NCF models'
    1-D outputs is the batch: the loss reaches Keras already a scalar, so Keras 3.15 skips its
    ``1 / num_replicas`` scaling and a 2-replica MirroredStrategy applies twice the gradient
    (measured: SGD steps exactly 2x those of one device, and the logged loss doubled). Keeping one
    value per example lets Keras reduce and scale it, so 1, 2 or N replicas take the same step.
    """

    def __init__(self, name="binary_crossentropy", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_true = keras.ops.expand_dims(keras.ops.cast(y_true, y_pred.dtype), -1)
        return keras.losses.binary_crossentropy(y_true, keras.ops.expand_dims(y_pred, -1))


# ---------------------------------------------------------------------------
# The NCF run at scale
# ---------------------------------------------------------------------------


@dataclass
class ScaleConfig:
    """One NCF training run on a ``ratings.csv`` through the scale path."""

    ratings: str
    model: str = "neumf"  # neumf | gmf | mlp | mf
    factors: int = 16
    layers: tuple = (64, 32, 16, 8)
    epochs: int = 1
    batch_size: int = 1 << 16  # global, over every replica
    base_learning_rate: float = 1e-3  # at base_batch; scaled linearly to batch_size
    base_batch: int = 2048
    n_neg: int = 4
    seed: int = 0
    strategy: str | None = None
    eval_users: int | None = None  # rank only the first N test users (benchmarks); None = all
    max_eval_bytes: int = 256 << 20
    cache_dir: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = False


def direct_score_fn(model, chunk: int = 1 << 16):
    """``score_fn(users, items)`` through one traced call of the model (no ``predict``), safe under any
    strategy: it reads the local copy of mirrored variables and needs no collective op."""
    import numpy as np

    @tf.function(reduce_retracing=True)
    def call(u, i):
        return tf.reshape(model({"user_id": u, "item_id": i}, training=False), [-1])

    def score(users, items):
        users = np.asarray(users, np.int32)
        items = np.asarray(items, np.int32)
        n = users.size
        pad = -n % chunk if n > chunk else 0
        users = np.concatenate([users, np.zeros(pad, np.int32)])
        items = np.concatenate([items, np.zeros(pad, np.int32)])
        step = chunk if n > chunk else max(n, 1)
        out = [call(tf.constant(users[s:s + step]), tf.constant(items[s:s + step])).numpy()
               for s in range(0, users.size, step)]
        return np.concatenate(out)[:n] if out else np.zeros(0, np.float32)

    return score


@dataclass
class _SampledValidation:
    """He et al.'s 1 + 99 protocol on the validation rows (carved from training) for model selection."""

    users: object
    items: object
    negatives: object
    k: int = 10
    monitor: str = "val_hr@10"
    mode: str = "max"

    def evaluate(self, model) -> dict:
        from hncf.evaluation.protocols import evaluate_sampled

        res = evaluate_sampled(direct_score_fn(model), self.users, self.items, self.negatives, ks=(self.k,))
        return {self.monitor: res[f"hr@{self.k}"], f"val_ndcg@{self.k}": res[f"ndcg@{self.k}"]}


def build_model(config: ScaleConfig, n_users: int, n_items: int):
    """The NCF-family model of ``config`` (call inside ``strategy.scope()``)."""
    from hncf.models.ncf import BUILDERS

    if config.model not in BUILDERS:
        raise ValueError(f"unknown model {config.model!r}; choose one of {', '.join(BUILDERS)}")
    kwargs = {"seed": config.seed}
    if config.model in ("gmf", "mf", "neumf"):
        kwargs["n_factors"] = config.factors
    if config.model in ("mlp", "neumf"):
        kwargs["layers"] = tuple(config.layers)
    return BUILDERS[config.model](n_users, n_items, **kwargs)


def _test_negatives(users, items, all_users, all_items, n_users, n_items, seed):
    from hncf.data.sampling import sample_test_negatives, user_item_csr

    csr = user_item_csr(all_users, all_items, n_users, n_items)
    return sample_test_negatives(csr, users, 99, seed)


def train_at_scale(config: ScaleConfig, strategy=None, verbose: int | str = 0) -> dict:
    """Load, split (leave-one-out, validation carved from training), train and evaluate one model.

    Returns timings (load, train, evaluation seconds; training examples/s), the validation
    history and the test metrics of both protocols: sampled 1 + 99 (He et al.) and full ranking
    over every item the user did not train on (blockwise, ``tf.math.top_k``).
    """
    import numpy as np

    from hncf.data.arrays import leave_one_out_arrays, load_ratings_arrays
    from hncf.evaluation.blockwise import csr_rows, evaluate_full_ranking_blockwise
    from hncf.evaluation.protocols import evaluate_sampled
    from hncf.generators.tf_negatives import TFNegativeSampler, scaled_learning_rate
    from hncf.pipeline.selection import select_then_refit
    from hncf.training import TrainConfig

    strategy = strategy if strategy is not None else strategy_from_name(config.strategy)
    replicas = strategy.num_replicas_in_sync
    t0 = time.perf_counter()
    data = load_ratings_arrays(config.ratings, cache_dir=config.cache_dir)
    users = np.asarray(data.users)
    items = np.asarray(data.items)
    split = leave_one_out_arrays(users, np.asarray(data.timestamps), data.n_users, validation=True)
    tr_u, tr_i = users[split.train], items[split.train]
    load_s = time.perf_counter() - t0

    per_group = (1 + config.n_neg) * replicas
    batch = max(per_group, config.batch_size // per_group * per_group)  # splits evenly over the replicas
    lr = scaled_learning_rate(config.base_learning_rate, config.base_batch, batch)
    sampler = TFNegativeSampler(tr_u, tr_i, data.n_users, data.n_items, config.n_neg, batch, config.seed)
    t1 = time.perf_counter()
    val_u, val_i = users[split.validation], items[split.validation]
    # Validation negatives avoid the user's training and validation items (the test item is unseen).
    train_and_val = np.concatenate([split.train, split.validation])
    val_neg = _test_negatives(val_u, val_i, users[train_and_val], items[train_and_val], data.n_users,
                              data.n_items, config.seed + 1)
    test_u, test_i = users[split.test], items[split.test]
    test_neg = _test_negatives(test_u, test_i, users, items, data.n_users, data.n_items, config.seed)
    negatives_s = time.perf_counter() - t1

    train_config = TrainConfig(epochs=config.epochs, batch_size=batch, learning_rate=lr, n_neg=config.n_neg,
                               seed=config.seed, steps_per_execution=1)
    validation = _SampledValidation(val_u, val_i, val_neg) if val_u.size else None
    ckpt = checkpoint_dir_for(config.checkpoint_dir, strategy)

    def build(stage: str):
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, data.n_users, data.n_items)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=PointwiseBinaryCrossentropy(),
                      steps_per_execution=1, jit_compile=False)
        return model, sampler

    # The shared stage, without refit: a scale run keeps the epoch that validation selects.
    with strategy.scope(), _keras_multiworker_build_fix(strategy):
        model, record = select_then_refit(build, train_config, validation, refit=False, checkpoint_dir=ckpt,
                                          resume=config.resume, verbose=verbose,
                                          run_config={"ratings": str(config.ratings), "model": config.model,
                                                      "seed": config.seed, "batch_size": batch})
    t2 = time.perf_counter()
    sampled = evaluate_sampled(direct_score_fn(model), test_u, test_i, test_neg, ks=(10,))
    sampled_s = time.perf_counter() - t2
    n_eval = test_u.size if config.eval_users is None else min(int(config.eval_users), test_u.size)
    t3 = time.perf_counter()
    full = evaluate_full_ranking_blockwise(model, test_u[:n_eval], test_i[:n_eval], data.n_items, k=10,
                                           exclude=csr_rows(tr_u, tr_i, data.n_users),
                                           max_bytes=config.max_eval_bytes)
    full_s = time.perf_counter() - t3
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "replicas": replicas, "global_batch": batch, "learning_rate": lr,
        "n_ratings": len(data), "n_users": data.n_users, "n_items": data.n_items,
        "n_train": int(split.train.size), "n_bad_lines": data.n_bad_lines,
        "load_s": load_s, "test_negatives_s": negatives_s,
        "train_s": record["session_seconds"], "examples": record["examples"],
        "examples_per_s": record["examples_per_second"], "epochs_run": record["epochs"],
        "best_epoch": record["best_epoch"], "history": record["history"], "resumed": record["resumed"],
        "sampled_1_99": sampled, "sampled_eval_s": sampled_s,
        "full_ranking": full, "full_ranking_users": int(n_eval), "full_ranking_s": full_s,
        "final_loss": (record["history"].get("loss") or [None])[-1],
    }


def main(argv=None) -> int:
    """``python -m hncf.distribute``: one scale run; prints its results as JSON (and writes ``--out``)."""
    p = argparse.ArgumentParser(prog="python -m hncf.distribute", description=__doc__.split("\n\n")[0])
    p.add_argument("--ratings", required=True, help="an ML-20M/ML-25M-format ratings.csv (or its folder)")
    p.add_argument("--model", default="neumf", choices=("neumf", "gmf", "mlp", "mf"))
    p.add_argument("--factors", type=int, default=16)
    p.add_argument("--layers", default="64,32,16,8", help="MLP widths, comma-separated")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1 << 16, help="global batch over all replicas")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="at --base-batch; scaled linearly")
    p.add_argument("--base-batch", type=int, default=2048)
    p.add_argument("--n-neg", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-users", type=int, default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--logical-cpus", type=int, default=0,
                   help="split the CPU into N logical devices first (MirroredStrategy without GPUs)")
    p.add_argument("--out", default=None, help="write the results JSON here (atomically)")
    add_strategy_argument(p)
    args = p.parse_args(argv)
    if args.logical_cpus:
        configure_logical_cpus(args.logical_cpus)
    config = ScaleConfig(ratings=args.ratings, model=args.model, factors=args.factors,
                         layers=tuple(int(x) for x in args.layers.split(",")), epochs=args.epochs,
                         batch_size=args.batch_size, base_learning_rate=args.learning_rate,
                         base_batch=args.base_batch, n_neg=args.n_neg, seed=args.seed, strategy=args.strategy,
                         eval_users=args.eval_users, cache_dir=args.cache_dir,
                         checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    try:
        out = train_at_scale(config)
    except (ValueError, FileNotFoundError) as e:
        print(f"hncf: error: {e}", file=sys.stderr)
        return 1
    text = json.dumps(out, indent=1, default=float)
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
