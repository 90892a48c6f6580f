"""keras-hub presets and local folders as text encoders (hncf.encoders.keras_hub_source)."""

import shutil

import numpy as np
import pytest

from hncf.encoders.keras_hub_source import KerasHubTextEncoder, load_keras_hub_encoder
from hncf.encoders.text import load_text_encoder
from hncf.encoders.text_base import directory_hash

SEQ = 12  # the text_encoder fixture's sequence length (the tiny backbone allows 32)


def _expected_numpy(backbone, vocab, texts, pooling, seq_len):
    """Vectors computed without BertTextEmbedding: keras-hub tokenizer, packing by hand, NumPy pooling."""
    import keras_hub

    tok = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True)
    ids = np.zeros((len(texts), seq_len), dtype="int32")
    mask = np.zeros((len(texts), seq_len), dtype="int32")
    for r, t in enumerate(texts):  # test-side reference: clarity over speed
        pieces = [int(i) for i in np.asarray(tok.tokenize(t)).reshape(-1)][: seq_len - 2]
        row = [tok.cls_token_id, *pieces, tok.sep_token_id]
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    out = backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}, training=False)
    if pooling == "cls":
        return np.asarray(out["pooled_output"])
    hidden = np.asarray(out["sequence_output"])
    m = mask[:, :, None].astype(np.float32)
    return (hidden * m).sum(1) / m.sum(1)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_encode_matches_independent_numpy_computation(tiny_text_models, text_encoder, pooling, texts):
    got = text_encoder(pooling=pooling).encode(texts, batch_size=4, progress=False)
    assert got.shape == (len(texts), 16) and got.dtype == np.float32
    want = _expected_numpy(tiny_text_models.backbone, tiny_text_models.vocab, texts, pooling, SEQ)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_names_are_stable_and_distinguish_settings(tiny_text_models, text_encoder, tmp_path):
    a = text_encoder()
    assert a.name == f"keras-hub:dir-{directory_hash(tiny_text_models.preset)[:16]}:cls:{SEQ}"
    assert a.dim == 16
    assert load_text_encoder(str(tiny_text_models.preset), sequence_length=SEQ).name == a.name
    others = {
        text_encoder(pooling="mean").name,
        text_encoder(pooling="mean", normalize=True).name,
        load_text_encoder(str(tiny_text_models.preset), sequence_length=SEQ + 1).name,
    }
    assert a.name not in others and len(others) == 3
    # Other weights in a copy of the folder: another name, so cached vectors are never reused.
    other = tmp_path / "preset_other_weights"
    shutil.copytree(tiny_text_models.preset, other)
    tiny_text_models.make_backbone(seed=1).save_to_preset(str(other))
    assert load_text_encoder(str(other), sequence_length=SEQ).name != a.name


def test_errors_for_bad_arguments(tiny_text_models, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        load_text_encoder(str(tiny_text_models.preset), pooling="max")
    with pytest.raises(ValueError, match="sequence_length must be an integer >= 3"):
        load_text_encoder(str(tiny_text_models.preset), sequence_length=2)
    with pytest.raises(ValueError, match="exceeds the backbone's max_sequence_length 32"):
        load_text_encoder(str(tiny_text_models.preset), sequence_length=64)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        load_text_encoder(str(tmp_path / "no_such_model"))
    (tmp_path / "not_a_model").mkdir()
    (tmp_path / "not_a_model" / "notes.txt").write_text("no weights here")
    with pytest.raises(ValueError, match="could not load a BERT backbone and tokenizer from .*not_a_model"):
        load_keras_hub_encoder(str(tmp_path / "not_a_model"), local=True)

    import keras_hub

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.BertBackbone, "from_preset", offline)
    with pytest.raises(RuntimeError, match="keras-hub preset 'bert_base_en_uncased'.*local preset directory"):
        load_text_encoder()


def test_the_source_loads_on_its_own_as_load_text_encoder_does(tiny_text_models, text_encoder, texts):
    via_spec = text_encoder(pooling="mean")
    direct = load_keras_hub_encoder(str(tiny_text_models.preset), local=True, pooling="mean", sequence_length=SEQ)
    assert isinstance(direct, KerasHubTextEncoder) and direct.name == via_spec.name
    assert direct.source == f"dir-{directory_hash(tiny_text_models.preset)[:16]}"
    np.testing.assert_allclose(direct.encode(texts, progress=False), via_spec.encode(texts, progress=False),
                               atol=1e-6)
