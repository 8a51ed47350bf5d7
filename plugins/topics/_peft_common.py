"""Helpers shared by the peft topic modules: a small encoder and a method by name."""

from __future__ import annotations

import torch

import suite
from suite.nn import EncoderConfig, TransformerEncoder


class _Dense(suite.Attention):
    """softmax(q kᵀ/√d) v with masks, for the small encoders of these experiments."""

    name = "topic-dense"
    supports_bias = True

    def forward(self, q, k, v, *, causal=False, key_padding_mask=None, attn_bias=None):  # type: ignore[no-untyped-def]
        from suite import oracles

        return oracles.dense_attention(
            q,
            k,
            v,
            causal=causal,
            key_padding_mask=key_padding_mask,
            attn_bias=attn_bias,
            dtype=q.dtype,
        )


def _encoder(d_model: int, layers: int, seed: int) -> TransformerEncoder:
    torch.manual_seed(seed)
    config = EncoderConfig(
        vocab_size=32, max_len=64, d_model=d_model, n_heads=4, n_layers=layers, d_hidden=4 * d_model
    )
    return TransformerEncoder(config, _Dense).eval()


def _method(name: str, **options: object) -> suite.PEFT:
    method = suite.get("peft", name)(**options)
    assert isinstance(method, suite.PEFT)
    return method
