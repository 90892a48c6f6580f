"""The frozen VGG16 poster encoder of HNCF, and batched poster encoding.

The paper feeds each poster through ImageNet VGG16 with the classifier removed and
the weights frozen (Table II: "Transfer Learning Weights: ImageNet", "Pooling:
Max-Pooling"), so every poster becomes a 512-d vector. Because the encoder is frozen
the vector is a function of the poster alone: encode each movie once
(:func:`encode_posters`) and train on the stored vectors.

ImageNet weights come from Keras' download (``weights="imagenet"``) or from a local
file: the official ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` (or the
full file with the classifier, whose extra layers are ignored), or a Keras 3
``.weights.h5`` saved from this encoder.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np
from tqdm.auto import tqdm

ENCODER_NAME = "vgg16_poster_encoder"
POOLINGS = ("max", "avg", None)


def _legacy_layer_names(path: Path) -> list[str]:
    """Layer names stored in a legacy Keras .h5 weights (or whole-model) file."""
    with h5py.File(path, "r") as f:
        group = f
        if "layer_names" not in f.attrs and "model_weights" in f:
            group = f["model_weights"]
        if "layer_names" not in group.attrs:
            raise ValueError(f"{path}: not a Keras weights file (no 'layer_names' attribute)")
        return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]


def _load_weights(model: keras.Model, path: Path) -> None:
    """Load a local weights file into ``model`` with errors that name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"VGG16 weights file {path} not found")
    name = path.name.lower()
    what = f"the VGG16 poster encoder (include_top=False, input {model.input_shape[1:]})"
    if name.endswith(".weights.h5"):
        # A file that does not fit makes Keras warn once per layer before it raises; the
        # one error below says it all, so the warnings are only passed on after success.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(path)
            except (ValueError, KeyError, OSError) as e:
                raise ValueError(f"{path}: weights do not fit {what}: {e}") from e
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    elif name.endswith((".h5", ".hdf5")):
        try:
            stored = set(_legacy_layer_names(path))
        except OSError as e:
            raise ValueError(f"{path}: cannot read as HDF5: {e}") from e
        needed = [layer.name for layer in model.layers if layer.weights]
        missing = [n for n in needed if n not in stored]
        if missing:
            raise ValueError(
                f"{path}: weights do not fit {what}: layer(s) {missing} are not in the file, which "
                f"holds {sorted(stored)}"
            )
        # By name, so the full ImageNet file (with fc1/fc2/predictions) loads too.
        try:
            model.load_weights(path, by_name=True)
        except ValueError as e:
            raise ValueError(f"{path}: weights do not fit {what}: {e}") from e
    else:
        raise ValueError(
            f"{path}: unsupported weights file; expected a Keras '.weights.h5' file or a legacy '.h5' "
            f"file such as vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        )


def build_poster_encoder(weights: str | os.PathLike | None = "imagenet", input_size: int = 224,
                         pooling: str | None = "max", name: str = ENCODER_NAME) -> keras.Model:
    """Frozen VGG16 without its classifier: images [n, s, s, 3] -> features [n, 512].

    ``weights``: ``"imagenet"`` (Keras downloads them), ``None`` (random, for tests)
    or the path of a local ``.weights.h5`` / legacy ``.h5`` file. ``pooling="max"`` is
    the paper's; ``"avg"`` is the other usual choice; ``None`` keeps the
    [s/32, s/32, 512] feature map. The model is not trainable.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
    if int(input_size) < 32:
        raise ValueError(f"VGG16 needs input_size >= 32 (five 2x2 poolings), got {input_size}")
    local = None
    if weights is not None and weights != "imagenet":
        local = Path(weights).expanduser()
        if not local.is_file():
            raise FileNotFoundError(f"VGG16 weights file {local} not found")
    model = keras.applications.VGG16(
        include_top=False,
        weights=None if local is not None else weights,
        input_shape=(int(input_size), int(input_size), 3),
        pooling=pooling,
        name=name,
    )
    if local is not None:
        _load_weights(model, local)
    model.trainable = False
    return model


def encode_posters(encoder: keras.Model, images, mask=None, batch_size: int = 32,
                   progress: bool = True) -> np.ndarray:
    """Poster features, float32 [n, *encoder output] (512-d for VGG16 with pooling).

    Only rows with ``mask`` True go through the network, ``batch_size`` at a time;
    the other rows are zeros, so a missing poster reads as "no information" rather
    than as the encoder's answer for a black image. ``images`` must already be
    preprocessed as the encoder's weights expect (see ``load_posters(mode=...)``).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [n, height, width, 3], got shape {images.shape}")
    n = images.shape[0]
    mask = np.ones(n, dtype=bool) if mask is None else np.asarray(mask).astype(bool).ravel()
    if mask.shape != (n,):
        raise ValueError(f"mask has {mask.size} entries for {n} images; it needs one per image")
    expected_hw = tuple(encoder.input_shape[1:3])
    if None not in expected_hw and tuple(images.shape[1:3]) != expected_hw:
        raise ValueError(
            f"images are {images.shape[1]}x{images.shape[2]} but encoder {encoder.name!r} takes "
            f"{expected_hw[0]}x{expected_hw[1]}; load them with size={expected_hw}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out_shape = tuple(encoder.output_shape[1:])
    if None in out_shape:
        raise ValueError(f"encoder {encoder.name!r} has an unknown output shape {encoder.output_shape}")
    out = np.zeros((n, *out_shape), dtype=np.float32)
    rows = np.flatnonzero(mask)
    with tqdm(total=len(rows), desc="VGG16 posters", unit="img", disable=not progress) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            out[batch] = np.asarray(encoder.predict_on_batch(images[batch].astype(np.float32, copy=False)))
            bar.update(len(batch))
    return out


__all__ = ["ENCODER_NAME", "POOLINGS", "build_poster_encoder", "encode_posters"]
