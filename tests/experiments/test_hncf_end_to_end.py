"""`reproduce hncf --mode end-to-end`: text and posters through the encoders every batch.

A tiny keras-hub BERT preset (written here) and a seeded random VGG16 at 32x32 keep it fast. The
central check: with frozen encoders the end-to-end rows train to the same metrics as the cached
rows, since both see the same vectors, the same head initialisation and the same batches.
"""

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

keras_hub = pytest.importorskip("keras_hub", reason="the end-to-end text tower needs keras-hub")

from hncf.cli import main  # noqa: E402
from hncf.data import load_movielens, user_item_csr  # noqa: E402
from hncf.data.synthetic import write_synthetic_movielens  # noqa: E402
from hncf.encoders.text import load_text_encoder  # noqa: E402
from hncf.experiments.hncf import PRESETS, prepare_item_features, row_views, run_hncf, training_path  # noqa: E402
from hncf.experiments.hncf_paths import EndToEndPath  # noqa: E402
from hncf.pipeline import prepare_loo  # noqa: E402
from hncf.experiments.quick import write_synthetic_posters  # noqa: E402
from hncf.training import TrainConfig, train_pointwise  # noqa: E402

# Words of the synthetic movie texts (genres, "movie", digits), so the tiny BERT sees real tokens.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "movie", "action", "adventure", "animation", "children",
         "comedy", "crime", "drama", "fantasy", "horror", "romance", "sci", "fi", "thriller", "war", "documentary",
         "musical", "mystery", "western", "film", "noir", "imax", "genres", "listed", "no", "title", "year",
         "##s", "##ing", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=128, dropout=0.1)
    preset = root / "tiny_bert"
    backbone.save_to_preset(str(preset))
    keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True).save_to_preset(str(preset))
    data_dir = write_synthetic_movielens(root / "ml-latest-small", "ml-latest-small", n_users=16, n_items=400,
                                         n_ratings=260, seed=3)
    item_ids = pd.read_csv(data_dir / "ratings.csv", usecols=["movieId"])["movieId"].value_counts().index
    posters = write_synthetic_posters(root / "posters", item_ids, seed=3)
    return {"data_dir": str(data_dir), "posters": str(posters), "text_encoder": str(preset), "text_pooling": "cls",
            "image_weights": "none", "cache_dir": str(root / "cache")}


def _run(inputs, out, **kw):
    return run_hncf(dataset="ml-latest-small", preset="tiny", out_dir=out, seed=0, progress=False,
                    full_ranking=False, **inputs, **kw)


@pytest.fixture(scope="module")
def both_modes(inputs, tmp_path_factory):
    variants = ("bert_ncf", "hncf")
    cached = _run(inputs, tmp_path_factory.mktemp("cached"), variants=variants, mode="cached")
    e2e_out = tmp_path_factory.mktemp("end_to_end")
    e2e = _run(inputs, e2e_out, variants=variants, mode="end-to-end")
    return cached, e2e, e2e_out


def test_frozen_end_to_end_rows_equal_the_cached_rows(both_modes):
    cached, e2e, _ = both_modes
    assert e2e["mode"] == "end-to-end" and cached["mode"] == "cached"
    for variant in ("bert_ncf", "hncf"):
        a, b = cached["protocols"]["loo"]["models"][variant], e2e["protocols"]["loo"]["models"][variant]
        assert b["mode"] == "end-to-end" and a["mode"] == "cached"
        assert b["best_epoch"] == a["best_epoch"]
        np.testing.assert_allclose(b["history"]["loss"], a["history"]["loss"], rtol=1e-4)
        for protocol in ("loo", "classification"):
            va, vb = row_views(cached, variant)[protocol], row_views(e2e, variant)[protocol]
            for metric, value in va.items():
                assert vb[metric] == pytest.approx(value, abs=1e-5), (variant, protocol, metric)
        # The end-to-end model scored through its cached twin agrees with its own forward pass.
        assert b["end_to_end_vs_twin_max_abs_diff"] < 1e-5


def test_end_to_end_checkpoints_keep_the_encoders_and_the_report_says_the_mode(both_modes):
    _, _, out = both_modes
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["mode"] == "end-to-end" and saved["fine_tune_text"] is False
    ckpt = out / "checkpoints" / "end-to-end" / "hncf" / "refit" / "last.keras"
    model = keras.models.load_model(ckpt, safe_mode=True)
    assert {"movie_text", "poster", "poster_mask"} <= set(model.input)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    # BERT and VGG16 inside: the saved end-to-end model reloads to the same predictions.
    rng = np.random.default_rng(0)
    batch = {"user_id": rng.integers(0, 5, 6).astype("int32"), "item_id": rng.integers(0, 20, 6).astype("int32"),
             "movie_text": tf.constant(["comedy movie 1995", "drama", "war film noir", "movie", "sci fi", "musical"]),
             "poster": rng.random((6, 32, 32, 3)).astype("float32"),
             "poster_mask": np.array([[1], [0], [1], [1], [0], [1]], "float32")}
    model.save(out / "again.keras")
    again = keras.models.load_model(out / "again.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(again.predict_on_batch(batch)), np.asarray(model.predict_on_batch(batch)))


def _fine_tune_setup(inputs):
    data = load_movielens("ml-latest-small", data_dir=inputs["data_dir"], progress=False)
    split = prepare_loo(data.interactions, 0, None)
    feats = prepare_item_features(data, split, None, inputs["text_encoder"], "cls", None, None, 32,
                                  inputs["cache_dir"], progress=False)
    path = EndToEndPath("bert_ncf", feats, len(split.users), len(split.items), PRESETS["tiny"].model,
                        text_encoder=feats.text_model, fine_tune_text=True)
    exclude = user_item_csr(split.full_train["user"], split.full_train["item"], len(split.users), len(split.items))
    sampler = path.sampler(split.full_train["user"].to_numpy(), split.full_train["item"].to_numpy(), 4, 64, 0,
                           exclude)
    return split, feats, path, sampler


def test_fine_tuning_trains_bert_and_scoring_follows_the_fine_tuned_encoder(inputs):
    split, feats, path, sampler = _fine_tune_setup(inputs)
    model = path.build(seed=0)
    model, _ = train_pointwise(model, sampler, TrainConfig(epochs=1, batch_size=64, learning_rate=1e-2), verbose=0)
    tables = path.item_tables(model)
    # The text tower moved away from the pretrained encoder whose vectors are cached ...
    assert np.max(np.abs(tables["text_vector"] - feats.text_vectors)) > 1e-3
    # ... and the pretrained encoder itself was left alone (the model trained a copy).
    fresh = load_text_encoder(inputs["text_encoder"], pooling="cls").encode(feats.texts[:5], progress=False)
    np.testing.assert_allclose(feats.text_model.encode(feats.texts[:5], progress=False), fresh, atol=1e-6)
    # Scores through the re-encoded catalogue equal the end-to-end forward pass on raw text.
    batch = sampler[3][0]
    assert path.check_agreement(model, batch) < 1e-5
    direct = np.asarray(model.predict_on_batch(batch)).reshape(-1)
    np.testing.assert_allclose(path.score_fn(model)(batch["user_id"], batch["item_id"]), direct, atol=1e-5)


def test_an_interrupted_fine_tuning_run_resumes_to_the_same_weights(inputs, tmp_path):
    _, _, path, sampler = _fine_tune_setup(inputs)
    cfg = TrainConfig(epochs=2, batch_size=64, learning_rate=1e-2)
    straight, _ = train_pointwise(path.build(seed=0), sampler, cfg, checkpoint_dir=tmp_path / "a", verbose=0)
    _, _, path, sampler = _fine_tune_setup(inputs)
    train_pointwise(path.build(seed=0), sampler, TrainConfig(epochs=1, batch_size=64, learning_rate=1e-2),
                    checkpoint_dir=tmp_path / "b", verbose=0)
    _, _, path, sampler = _fine_tune_setup(inputs)
    resumed, result = train_pointwise(path.build(seed=1), sampler, cfg, checkpoint_dir=tmp_path / "b",
                                      resume=True, verbose=0)
    assert result.epochs_run == 2
    x = sampler[0][0]
    np.testing.assert_allclose(np.asarray(resumed.predict_on_batch(x)), np.asarray(straight.predict_on_batch(x)),
                               atol=1e-6)


def test_a_cache_from_other_encoder_weights_is_caught(inputs):
    _, feats, path, sampler = _fine_tune_setup(inputs)
    path.fine_tune_text = False
    path.tables["text_vector"] = path.tables["text_vector"] + 1.0  # as if cached from other weights
    with pytest.raises(RuntimeError, match="not made by these encoders"):
        path.check_agreement(path.build(seed=0), sampler[0][0])


def test_end_to_end_mode_errors_are_one_line(capsys, inputs, tmp_path):
    code = main(["reproduce", "hncf", "--fine-tune-text", "--out", str(tmp_path), "--quiet"])
    assert code == 1 and "end-to-end" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "ncf", "--mode", "end-to-end", "--out", str(tmp_path), "--quiet"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --mode end-to-end" in capsys.readouterr().err
    with pytest.raises(ValueError, match="flag_only"):
        _run(inputs, tmp_path / "flag", variants=("hncf_flag_only",), mode="end-to-end")
    # A TF-Hub encoder (or none) fills the cache but cannot sit inside a Keras 3 model.
    split, feats, _, _ = _fine_tune_setup(inputs)
    feats.text_model = None
    with pytest.raises(ValueError, match="needs a keras-hub text encoder"):
        training_path("bert_ncf", "end-to-end", split, feats, PRESETS["tiny"], None, "none", False, False)

