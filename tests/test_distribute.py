"""tf.distribute: two logical CPUs (MirroredStrategy) and two worker processes (MultiWorkerMirroredStrategy)
train to the same metrics as one device for the same seed and global batch, through a checkpoint and resume.

Tolerance: the replicas sum the same gradients in another order, so weights agree to float32 rounding;
losses must agree to 1e-5 and every ranking metric to 1e-6 (observed: identical).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import hncf
from hncf.data.arrays import synthetic_rating_arrays, write_ratings_csv
from hncf.distribute import (
    PointwiseBinaryCrossentropy,
    ScaleConfig,
    checkpoint_dir_for,
    strategy_from_name,
    train_at_scale,
)

ROOT = Path(hncf.__file__).resolve().parent.parent
ARGS = ["--model", "neumf", "--factors", "4", "--layers", "8,4", "--batch-size", "500", "--seed", "3"]
TIMEOUT = 180


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    r = synthetic_rating_arrays(2400, n_users=60, n_items=300, seed=0)
    ratings = write_ratings_csv(d / "ratings.csv", r["userId"], r["movieId"], r["rating"], r["timestamp"])
    one = train_at_scale(ScaleConfig(ratings=str(ratings), model="neumf", factors=4, layers=(8, 4), epochs=2,
                                     batch_size=500, seed=3, strategy="none", cache_dir=str(d / "cache")))
    return ratings, d / "cache", one


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _run(ratings, cache, out, *flags, env=None):
    return subprocess.Popen([sys.executable, "-m", "hncf.distribute", "--ratings", str(ratings), "--cache-dir",
                             str(cache), "--out", str(out), *ARGS, *flags], env=env or _env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(procs):
    for p in procs:
        try:
            _, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"a distributed run did not finish in {TIMEOUT} s")
        assert p.returncode == 0, err[-3000:]


def _same_metrics(run, one):
    assert run["global_batch"] == one["global_batch"] and run["epochs_run"] == 2
    np.testing.assert_allclose(run["history"]["loss"], one["history"]["loss"], atol=1e-5)
    for key in ("val_hr@10", "val_ndcg@10"):
        np.testing.assert_allclose(run["history"][key], one["history"][key], atol=1e-6)
    for protocol in ("sampled_1_99", "full_ranking"):
        for key, value in one[protocol].items():
            assert run[protocol][key] == pytest.approx(value, abs=1e-6), (protocol, key)


def test_mirrored_over_two_logical_cpus_equals_one_device_through_a_resume(tiny, tmp_path):
    ratings, cache, one = tiny
    flags = ["--strategy", "mirrored", "--logical-cpus", "2", "--checkpoint-dir", str(tmp_path / "ckpt")]
    _wait([_run(ratings, cache, tmp_path / "first.json", "--epochs", "1", *flags)])
    _wait([_run(ratings, cache, tmp_path / "run.json", "--epochs", "2", "--resume", *flags)])
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["replicas"] == 2 and run["resumed"]
    _same_metrics(run, one)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_on_loopback_equal_one_device_through_a_resume(tiny, tmp_path):
    ratings, cache, one = tiny
    for phase, epochs in (("first", "1"), ("run", "2")):
        workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
        procs = []
        for i in range(2):
            tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            flags = ["--strategy", "multiworker", "--epochs", epochs, "--checkpoint-dir", str(tmp_path / "ckpt")]
            procs.append(_run(ratings, cache, tmp_path / f"{phase}-{i}.json", *flags,
                              *(["--resume"] if phase == "run" else []), env=_env(TF_CONFIG=tf_config)))
        _wait(procs)
    assert (tmp_path / "ckpt" / "state.json").is_file() and (tmp_path / "ckpt" / "worker-1" / "state.json").is_file()
    for i in range(2):
        run = json.loads((tmp_path / f"run-{i}.json").read_text())
        assert run["replicas"] == 2 and run["resumed"]
        _same_metrics(run, one)


def test_strategy_names_and_tf_config_errors(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy_from_name("none").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown --strategy 'ring'"):
        strategy_from_name("ring")
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        strategy_from_name("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        strategy_from_name("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker",
                                                                                         "index": 3}}))
    with pytest.raises(ValueError, match=r"index': 0\.\.0"):
        strategy_from_name("multiworker")
    assert checkpoint_dir_for("ck", tf.distribute.get_strategy()) == Path("ck")
    assert checkpoint_dir_for(None, tf.distribute.get_strategy()) is None


def test_pointwise_bce_equals_keras_bce_and_round_trips():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64).astype("float32")
    p = rng.uniform(0.01, 0.99, 64).astype("float32")
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    loss = PointwiseBinaryCrossentropy()
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-5)
    assert float(keras.losses.BinaryCrossentropy()(y, p)) == pytest.approx(expected, rel=1e-5)
    back = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(back, PointwiseBinaryCrossentropy) and float(back(y, p)) == pytest.approx(expected, rel=1e-5)


def test_cli_reports_bad_input_as_one_line(tmp_path, capsys):
    from hncf.distribute import main

    bad = tmp_path / "ratings.csv"
    bad.write_text("user,item\n1,2\n")
    assert main(["--ratings", str(bad), "--strategy", "none", "--cache-dir", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hncf: error:") and "line 1: wrong columns" in err
