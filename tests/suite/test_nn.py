"""`suite.nn`: MultiHeadAttention equals torch.nn.MultiheadAttention, swaps cores, handles GQA."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from plugins.attention import COMPONENTS
from plugins.attention.naive import NaiveAttention
from plugins.attention.reference import SDPAAttention
from suite.nn import EncoderConfig, MultiHeadAttention, TransformerEncoder


@settings(deadline=None, max_examples=20)
@given(
    heads=st.sampled_from([1, 2, 4]),
    t=st.integers(1, 24),
    causal=st.booleans(),
    padded=st.booleans(),
    seed=st.integers(0, 100),
)
def test_matches_torch_multihead_attention(
    heads: int, t: int, causal: bool, padded: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    d = 16
    ours = MultiHeadAttention(d, heads, NaiveAttention(), causal=causal)
    ref = nn.MultiheadAttention(d, heads, batch_first=True)
    with torch.no_grad():  # same weights: torch packs q, k, v into one in_proj
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.kv_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.kv_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(2, t, d)
    mask = torch.ones(2, t, dtype=torch.bool)
    if padded:
        mask[1, (t + 1) // 2 :] = False  # keep at least one real token
    attn_mask = (
        torch.ones(t, t, dtype=torch.bool).triu(1) if causal else None
    )  # torch: True = blocked
    expected, _ = ref(
        x, x, x, key_padding_mask=~mask if padded else None, attn_mask=attn_mask, need_weights=False
    )
    got = ours(x, mask if padded else None)
    assert (got - expected).abs().max().item() < 1e-5


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_any_component_plugs_in_with_gqa_and_cross_attention(cls) -> None:
    mha = MultiHeadAttention(32, 4, cls(), n_kv_heads=2)
    x, ctx = torch.randn(2, 10, 32), torch.randn(2, 7, 32)
    assert mha(x).shape == (2, 10, 32)
    assert mha(x, torch.ones(2, 7, dtype=torch.bool), context=ctx).shape == (2, 10, 32)
    assert mha.kv_proj.out_features == 2 * 2 * 8  # the KV projection shrinks with the kv heads


def test_bad_head_counts_name_the_values() -> None:
    with pytest.raises(ValueError, match="n_heads \\(3\\)"):
        MultiHeadAttention(32, 3, SDPAAttention())
    with pytest.raises(ValueError, match="n_kv_heads \\(3\\)"):
        MultiHeadAttention(32, 4, SDPAAttention(), n_kv_heads=3)


def test_encoder_ignores_what_sits_behind_padding() -> None:
    torch.manual_seed(0)
    model = TransformerEncoder(
        EncoderConfig(vocab_size=20, max_len=16, d_model=16, n_heads=2), SDPAAttention
    ).eval()
    ids = torch.randint(1, 20, (1, 12))
    mask = torch.ones(1, 12, dtype=torch.bool)
    mask[:, 8:] = False
    other = ids.clone()
    other[:, 8:] = torch.randint(1, 20, (1, 4))  # change only the padded tokens
    a, b = model(ids, mask), model(other, mask)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)
    with pytest.raises(ValueError, match="max_len 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
