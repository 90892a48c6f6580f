"""Hugging Face BERT checkpoints: how to read their folder so their vectors come out as Hugging Face's.

A Hugging Face BERT folder holds ``config.json`` (with ``model_type``), ``model.safetensors`` and
``vocab.txt`` (e.g. the files of sentence-transformers all-MiniLM-L6-v2); keras-hub converts the
weights on ``BertBackbone.from_preset(folder)``. Its converter reads only ``do_lower_case`` and
ignores ``hidden_act``, so this module supplies the rest: Hugging Face also strips accents when
lowercasing unless ``strip_accents`` says otherwise, and uses the exact GELU for ``"gelu"``
(keras-hub alone would use the tanh approximation). With both, all-MiniLM-L6-v2 reproduces
sentence-transformers' vectors to about 1e-7.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["HF_HIDDEN_ACTS", "hf_tokenizer_settings", "is_hf_checkpoint", "read_json"]

# Hugging Face ``hidden_act`` -> the feed-forward activation of keras-hub's BERT blocks.
HF_HIDDEN_ACTS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
                  "gelu_fast": "gelu_approximate"}


def read_json(path: Path) -> dict:
    """Parse a JSON file; a syntax error names the file, line and column."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from e


def is_hf_checkpoint(directory: Path) -> bool:
    """True when ``directory`` holds a Hugging Face ``config.json`` (one with a ``model_type``)."""
    config = Path(directory) / "config.json"
    return config.is_file() and "model_type" in read_json(config)


def hf_tokenizer_settings(directory: Path) -> dict:
    """Tokenizer flags and activation for a Hugging Face BERT folder, with Hugging Face's defaults.

    Returns the keyword arguments of :class:`~hncf.encoders.text_layer.BertTextEmbedding` that the
    folder decides: ``vocabulary``, ``lowercase``, ``strip_accents``, ``split_on_cjk``,
    ``hidden_act``. Raises ``ValueError`` naming ``config.json`` for another architecture or an
    unsupported activation, ``FileNotFoundError`` without ``vocab.txt``.
    """
    directory = Path(directory)
    config_path = directory / "config.json"
    config = read_json(config_path)
    model_type = config.get("model_type")
    if model_type != "bert":
        raise ValueError(f"{config_path}: model_type is {model_type!r}; only BERT checkpoints are supported")
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in HF_HIDDEN_ACTS:
        raise ValueError(
            f"{config_path}: hidden_act {hidden_act!r} is not supported; expected one of {sorted(HF_HIDDEN_ACTS)}"
        )
    vocab_path = directory / "vocab.txt"
    if not vocab_path.is_file():
        raise FileNotFoundError(f"{directory}: no vocab.txt (a Hugging Face BERT checkpoint needs one)")
    with open(vocab_path, encoding="utf-8") as f:
        vocabulary = f.read().splitlines()
    tok_path = directory / "tokenizer_config.json"
    tok = read_json(tok_path) if tok_path.is_file() else {}
    lowercase = bool(tok.get("do_lower_case", True))  # BertTokenizer's default
    strip = tok.get("strip_accents")
    return {
        "vocabulary": vocabulary,
        "lowercase": lowercase,
        "strip_accents": lowercase if strip is None else bool(strip),
        "split_on_cjk": bool(tok.get("tokenize_chinese_chars", True)),
        "hidden_act": HF_HIDDEN_ACTS[hidden_act],
    }
