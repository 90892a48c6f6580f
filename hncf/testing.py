"""Checks every model test runs (as keras-hub's ``run_model_saving_test``): import in your own tests too.

:func:`assert_model_round_trip` saves a model to ``.keras``, reloads it with ``safe_mode=True`` and
checks identical predictions, no ``Lambda`` layer, and (for functional models) a ``get_config``
round trip. :func:`assert_batch_permutation_equivariant` catches a score computed with a reduction
over the whole batch (a bug that shipped in a keras-io example).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def _predict(model: keras.Model, inputs):
    out = model(inputs, training=False)
    return [np.asarray(o) for o in keras.tree.flatten(out)]


def assert_model_round_trip(model: keras.Model, inputs, tmp_path, config_round_trip: bool = True) -> keras.Model:
    """Save ``model``, reload with ``safe_mode=True``, assert identical outputs on ``inputs``; return the reload."""
    path = Path(tmp_path) / f"{model.name}.keras"
    before = _predict(model, inputs)
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    after = _predict(loaded, inputs)
    assert len(after) == len(before), f"reloaded model has {len(after)} outputs, the original {len(before)}"
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
    lambdas = [layer.name for layer in loaded._flatten_layers() if type(layer).__name__ == "Lambda"]
    assert not lambdas, f"Lambda layers do not belong in a saved model: {lambdas}"
    if config_round_trip:
        clone = model.__class__.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        for a, b in zip(_predict(clone, inputs), before):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    return loaded


def assert_batch_permutation_equivariant(model: keras.Model, inputs: dict, seed: int = 0) -> None:
    """Permuting the rows of a batch must permute the model's outputs the same way."""
    n = len(next(iter(inputs.values())))
    perm = np.random.default_rng(seed).permutation(n)
    base = _predict(model, inputs)
    permuted = _predict(model, {k: np.asarray(v)[perm] for k, v in inputs.items()})
    for a, b in zip(permuted, base):
        np.testing.assert_allclose(a, b[perm], rtol=1e-5, atol=1e-6)
