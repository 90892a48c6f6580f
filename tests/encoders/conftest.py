"""Fixtures of the text-encoder tests: sample texts and the shared tiny encoders at sequence length 12.

The tiny models themselves come from the top-level ``tests/conftest.py``.
"""

import pytest

SAMPLE_TEXTS = (
    "A movie about a boy and his dog",
    "the cat",
    "Dogs and cats.",
    "film",
    "an old man and the sea , a story of love in the city at night",
    "funny girl",
)


@pytest.fixture
def texts():
    """Six item texts of different lengths (one longer than the tests' sequence length of 12)."""
    return list(SAMPLE_TEXTS)


@pytest.fixture(scope="module")
def text_encoder(tiny_text_encoder):
    """The session-wide memo of tiny encoders (see tests/conftest.py), at sequence length 12."""

    def get(source="preset", pooling="cls", normalize=False, sequence_length=12):
        return tiny_text_encoder(source, pooling=pooling, normalize=normalize, sequence_length=sequence_length)

    return get
