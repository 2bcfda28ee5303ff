"""Encoding in batches of one token length (curation/dedup/embeddings.py): every text once, in
batches that keep to their token budget, and the same embeddings as sentence-transformers'
own `encode`."""

from __future__ import annotations

import numpy as np
import pytest

from curation.dedup import embeddings
from curation.dedup.embeddings import _bfloat16_model, _model, default_model_path, encode, length_batches


@pytest.mark.parametrize("budget", [8, 64, 1024])
def test_batches_hold_every_row_once_within_the_budget_shortest_first(budget: int) -> None:
    lengths = [int(value) for value in np.random.default_rng(3).integers(2, 40, size=500)] + [300]

    batches = list(length_batches(lengths, budget))

    assert sorted(row for batch in batches for row in batch.tolist()) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * max(lengths[row] for row in batch.tolist())
        assert padded <= budget or len(batch) == 1  # a text longer than the budget goes alone
    longest_of_each = [max(lengths[row] for row in batch.tolist()) for batch in batches]
    assert longest_of_each == sorted(longest_of_each)
    assert len(lengths) - 1 in batches[-1].tolist()  # the longest text comes last


def test_embedding_batches_keep_their_padding_within_its_share() -> None:
    # Given a few hundred short texts and some long ones a token or two apart
    rng = np.random.default_rng(5)
    lengths = [int(value) for value in rng.integers(4, 40, size=300)] + [120, 121, 121, 122, 160, 161]

    # When batched for embedding
    batches = list(length_batches(lengths, 1024, padding=embeddings.PADDING_SHARE))

    # Then every text is in one batch, within the budget and the padding share: a short text's
    # batch holds one length (a token of padding is more than 2% of it), long texts share
    assert sorted(row for batch in batches for row in batch.tolist()) == list(range(len(lengths)))
    for batch in batches:
        sizes = [lengths[row] for row in batch.tolist()]
        padded = len(sizes) * max(sizes)
        assert padded <= 1024 or len(sizes) == 1
        assert padded - sum(sizes) <= embeddings.PADDING_SHARE * padded
        if max(sizes) < 50:
            assert len(set(sizes)) == 1
    assert [120, 121, 121, 122] in [sorted(lengths[row] for row in batch.tolist()) for batch in batches]
    # And without a share (what generation uses) a batch fills its budget across lengths
    assert len(list(length_batches(lengths, 1024))) < len(batches)


def test_embeddings_match_sentence_transformers_encode_in_the_callers_order() -> None:
    # Given texts of very different lengths, in no particular order (a repeat among them)
    texts = [
        "Refund please",
        "Where is my new card? It still has not arrived and I ordered it two weeks ago. " * 3,
        "PIN?",
        "How do I change the PIN of my card?",
        "Refund please",
    ]

    # When encoded in fp32 by Finch's batches and by the library's own encode
    ours = encode(texts, default_model_path(), fp32=True)
    reference = _model(default_model_path()).encode(texts, normalize_embeddings=True)

    # Then each text's embedding is the same, in the caller's order
    assert np.allclose(np.einsum("ij,ij->i", ours, reference), 1.0, atol=1e-5)
    assert np.allclose(ours[0], ours[4], atol=1e-6)  # a row's place in a matrix product rounds


def test_the_bfloat16_copy_gives_autocasts_embeddings_bit_for_bit_and_shares_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    # Given the model, and texts in one batch of the model's own preprocessing
    model = _model(default_model_path())
    features = model.preprocess(["Refund please", "How do I change the PIN of my card?", "PIN?"])

    # When the model and its copy with bfloat16 linear layers run them under autocast
    copied = _bfloat16_model(default_model_path())
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model.forward(dict(features))["sentence_embedding"]
        got = copied.forward(dict(features))["sentence_embedding"]

    # Then the embeddings are the same bit for bit; the copy's linear weights are bfloat16, its
    # other weights (the token embeddings among them) the model's own tensors, not copies
    assert torch.equal(got, expected)
    linears = [module for module in copied.modules() if isinstance(module, torch.nn.Linear)]
    assert linears and all(module.weight.dtype == torch.bfloat16 for module in linears)
    words = next(module for module in model.modules() if isinstance(module, torch.nn.Embedding))
    assert any(parameter is words.weight for parameter in copied.parameters())
    # And encode uses the copy where bfloat16 is native, the fp32 model otherwise
    monkeypatch.setattr(embeddings, "native_bfloat16", lambda: True)
    calls: list[str] = []

    def forward(features: dict) -> dict:
        calls.append("copy")
        return model.forward(features)

    monkeypatch.setattr(copied, "forward", forward)
    encode(["Refund please"], default_model_path())
    encode(["Refund please"], default_model_path(), fp32=True)
    assert calls == ["copy"]
