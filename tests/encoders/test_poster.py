import h5py
import keras
import numpy as np
import pytest

from hncf.encoders.poster import ENCODER_NAME, build_poster_encoder, encode_posters

SIZE = 32  # the smallest input VGG16 takes; keeps every forward pass cheap
VGG16_NOTOP_PARAMS = 14_714_688  # 13 conv layers, as published for keras.applications.VGG16


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return build_poster_encoder(weights=None, input_size=SIZE)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, size=(7, SIZE, SIZE, 3)).astype(np.float32)


def _outputs(model, x):
    return np.asarray(model(x, training=False))


def _write_legacy_h5(model, path, extra_layers=(), bad_shape_layer=None):
    """A weights file in the legacy layout of Keras' vgg16_weights_tf_dim_ordering_tf_kernels*.h5."""
    layers = [(layer.name, [np.asarray(w) for w in layer.weights]) for layer in model.layers]
    layers += list(extra_layers)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name, _ in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, values in layers:
            g = f.create_group(name)
            weight_names = [f"{name}/{'kernel' if v.ndim > 1 else 'bias'}:0" for v in values]
            g.attrs["weight_names"] = [w.encode() for w in weight_names]
            for w, v in zip(weight_names, values):
                if name == bad_shape_layer and v.ndim > 1:
                    v = v[..., :-1]
                g.create_dataset(w, data=v)


def test_frozen_vgg16_without_top(encoder, images):
    assert encoder.name == ENCODER_NAME
    assert encoder.input_shape == (None, SIZE, SIZE, 3) and encoder.output_shape == (None, 512)
    assert not encoder.trainable and encoder.trainable_weights == []
    assert encoder.count_params() == VGG16_NOTOP_PARAMS
    assert [layer.name for layer in encoder.layers if layer.weights][-1] == "block5_conv3"  # no fc layers
    out = _outputs(encoder, images)
    assert out.shape == (7, 512) and out.dtype == np.float32

    # Max pooling is the spatial max of the last feature map, computed here from a pooling=None copy.
    fmap = build_poster_encoder(weights=None, input_size=SIZE, pooling=None)
    fmap.set_weights(encoder.get_weights())
    np.testing.assert_allclose(out, _outputs(fmap, images).max(axis=(1, 2)), rtol=1e-6, atol=1e-6)
    avg = build_poster_encoder(weights=None, input_size=SIZE, pooling="avg")
    avg.set_weights(encoder.get_weights())
    np.testing.assert_allclose(_outputs(avg, images), _outputs(fmap, images).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_outputs_follow_a_permuted_batch(encoder, images):
    perm = np.random.default_rng(1).permutation(len(images))
    np.testing.assert_allclose(_outputs(encoder, images[perm]), _outputs(encoder, images)[perm], rtol=1e-5, atol=1e-6)


def test_weights_file_round_trip(encoder, images, tmp_path):
    path = tmp_path / "vgg16.weights.h5"
    encoder.save_weights(path)
    loaded = build_poster_encoder(weights=path, input_size=SIZE)
    np.testing.assert_array_equal(_outputs(loaded, images), _outputs(encoder, images))
    assert not loaded.trainable


def test_legacy_h5_like_the_official_imagenet_files(encoder, images, tmp_path):
    notop = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _write_legacy_h5(encoder, notop)
    np.testing.assert_array_equal(_outputs(build_poster_encoder(weights=notop, input_size=SIZE), images),
                                  _outputs(encoder, images))
    # The full file also holds the classifier layers; they are ignored.
    full = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    fc = [("flatten", []), ("fc1", [np.zeros((8, 4), np.float32), np.zeros(4, np.float32)])]
    _write_legacy_h5(encoder, full, extra_layers=fc)
    np.testing.assert_array_equal(_outputs(build_poster_encoder(weights=str(full), input_size=SIZE), images),
                                  _outputs(encoder, images))


def test_imagenet_weights_are_passed_to_keras(monkeypatch):
    # No download is possible here: check the request reaches keras.applications.VGG16 as is.
    calls = []
    real_vgg16 = keras.applications.VGG16

    def recording_vgg16(**kwargs):
        calls.append(dict(kwargs))
        return real_vgg16(**{**kwargs, "weights": None})

    monkeypatch.setattr(keras.applications, "VGG16", recording_vgg16)
    model = build_poster_encoder(input_size=SIZE)
    assert calls == [{"include_top": False, "weights": "imagenet", "input_shape": (SIZE, SIZE, 3),
                      "pooling": "max", "name": ENCODER_NAME}]
    assert not model.trainable


def test_weights_errors(encoder, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        build_poster_encoder(weights=tmp_path / "nothing.weights.h5", input_size=SIZE)

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    wrong = tmp_path / "dense.weights.h5"
    other.save_weights(wrong)
    with pytest.raises(ValueError, match=r"dense\.weights\.h5: weights do not fit the VGG16 poster encoder"):
        build_poster_encoder(weights=wrong, input_size=SIZE)

    bad_shape = tmp_path / "bad_shape.h5"
    _write_legacy_h5(encoder, bad_shape, bad_shape_layer="block3_conv2")
    with pytest.raises(ValueError, match=r"bad_shape\.h5: weights do not fit.*block3_conv2"):
        build_poster_encoder(weights=bad_shape, input_size=SIZE)

    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        f.create_group("block1_conv1").attrs["weight_names"] = []
    with pytest.raises(ValueError, match=r"partial\.h5: .*\['block1_conv2', .*'block5_conv3'\] are not in the file"):
        build_poster_encoder(weights=partial, input_size=SIZE)

    torch_file = tmp_path / "vgg16.pth"
    torch_file.write_bytes(b"\x00")
    with pytest.raises(ValueError, match=r"vgg16\.pth: unsupported weights file"):
        build_poster_encoder(weights=torch_file, input_size=SIZE)
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        build_poster_encoder(weights=None, input_size=SIZE, pooling="min")
    with pytest.raises(ValueError, match="input_size >= 32"):
        build_poster_encoder(weights=None, input_size=16)


def test_encode_posters_runs_only_real_posters(encoder, images, monkeypatch):
    mask = np.array([True, False, True, True, False, True, True])
    seen = []
    real_predict = encoder.predict_on_batch

    def spy(x):
        seen.append(np.array(x))
        return real_predict(x)

    monkeypatch.setattr(encoder, "predict_on_batch", spy)
    out = encode_posters(encoder, images, mask, batch_size=2, progress=False)
    assert out.shape == (7, 512) and out.dtype == np.float32
    assert [len(x) for x in seen] == [2, 2, 1]  # 5 real posters in batches of 2
    np.testing.assert_array_equal(np.concatenate(seen), images[mask])  # the masked rows never ran
    assert not out[~mask].any()
    np.testing.assert_allclose(out[mask], _outputs(encoder, images[mask]), rtol=1e-5, atol=1e-6)

    seen.clear()
    none = encode_posters(encoder, images, np.zeros(7, bool), progress=True)
    assert seen == [] and none.shape == (7, 512) and not none.any()


def test_encode_posters_batch_size_does_not_matter(encoder, images):
    a = encode_posters(encoder, images, None, batch_size=3, progress=False)
    b = encode_posters(encoder, images, np.ones(7, bool), batch_size=32, progress=False)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_encode_posters_errors(encoder, images):
    with pytest.raises(ValueError, match=r"\[n, height, width, 3\]"):
        encode_posters(encoder, images[..., 0], None, progress=False)
    with pytest.raises(ValueError, match="mask has 3 entries for 7 images"):
        encode_posters(encoder, images, np.ones(3, bool), progress=False)
    with pytest.raises(ValueError, match=r"images are 64x64 but encoder 'vgg16_poster_encoder' takes 32x32"):
        encode_posters(encoder, np.zeros((1, 64, 64, 3), np.float32), None, progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        encode_posters(encoder, images, None, batch_size=0, progress=False)


def test_saved_encoder_reloads_safely(encoder, images, tmp_path):
    path = tmp_path / "poster_encoder.keras"
    encoder.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.name == ENCODER_NAME and not reloaded.trainable
    np.testing.assert_array_equal(_outputs(reloaded, images), _outputs(encoder, images))
