"""The position components: registration, declarations, input checks, agreement with
transformers, and the suite.nn model with each encoding."""

from __future__ import annotations

import pytest
import torch

import suite
from plugins.positions import COMPONENTS
from plugins.positions.common import alibi_slopes, sinusoid_table
from suite.errors import ComponentInputError
from suite.kinds import PositionModule
from suite.nn import EncoderConfig, MultiHeadAttention, TransformerEncoder

NAMES = {
    "sinusoidal",
    "learned",
    "rope",
    "alibi",
    "none",
    "hf-rope",
    "hf-alibi",
    "sinusoidal-float64",
}


def test_every_builtin_is_registered_with_its_declarations() -> None:
    assert {c.name for c in suite.components("position")} >= NAMES
    declared = {c.name: (c.enters, c.relative) for c in COMPONENTS}
    assert declared["rope"] == ("rotation", True)
    assert declared["alibi"] == ("bias", True)
    assert declared["sinusoidal"] == ("embedding", False)
    assert declared["none"] == ("none", False)
    assert suite.get("position", "learned").bounded
    assert suite.get("position", "rope").reference == "hf-rope"
    assert suite.get("position", "alibi").reference == "hf-alibi"
    assert suite.get("position", "sinusoidal").reference == "sinusoidal-float64"


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_build_returns_a_checked_module_with_three_entry_points(cls: type) -> None:
    mod = cls().build(24, 3, 16)
    assert isinstance(mod, PositionModule)
    x, q, k = torch.randn(2, 5, 24), torch.randn(2, 3, 5, 8), torch.randn(2, 1, 5, 8)
    positions = torch.arange(5).expand(2, 5)
    assert mod.embed(x, positions).shape == x.shape
    rq, rk = mod.rotate(q, k, positions, positions)
    assert rq.shape == q.shape and rk.shape == k.shape
    bias = mod.bias(5, 5)
    assert bias is None or tuple(bias.shape[1:]) == (3, 5, 5)


def test_input_checks_name_the_problem() -> None:
    learned = suite.get("position", "learned")().build(8, 2, 4)
    x = torch.randn(1, 5, 8)
    with pytest.raises(ComponentInputError, match="max_len=4"):
        learned.embed(x, torch.arange(5)[None])
    with pytest.raises(ComponentInputError, match="long tensor"):
        learned.embed(x[:, :3], torch.arange(3.0)[None])
    with pytest.raises(ComponentInputError, match=r"must be \(B, T\)"):
        learned.embed(x[:, :3], torch.arange(4)[None])
    with pytest.raises(ComponentInputError, match="x must be"):
        learned.embed(torch.randn(1, 3, 7), torch.arange(3)[None])
    rope = suite.get("position", "rope")().build(8, 2, 4)
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ComponentInputError, match="head size"):
        rope.rotate(torch.randn(1, 2, 3, 5), q, torch.arange(3)[None], torch.arange(3)[None])
    with pytest.raises(ComponentInputError, match=">= 0"):
        rope.rotate(q, q, torch.tensor([[-1, 0, 1]]), torch.arange(3)[None])
    with pytest.raises(ComponentInputError, match="even head size"):
        suite.get("position", "rope")().build(6, 2, 4)
    with pytest.raises(ComponentInputError, match="must divide d_model"):
        suite.get("position", "none")().build(8, 3, 4)
    with pytest.raises(ComponentInputError, match="tq must be"):
        suite.get("position", "alibi")().build(8, 2, 4).bias(0, 3)


def test_unbounded_encodings_reach_past_max_len() -> None:
    for name in ("sinusoidal", "rope"):
        mod = suite.get("position", name)().build(16, 2, 8)
        ref = suite.get("position", suite.get("position", name).reference)().build(16, 2, 8)
        positions = torch.arange(100, 110)[None]
        x, q = torch.randn(1, 10, 16), torch.randn(1, 2, 10, 8)
        torch.testing.assert_close(mod.embed(x, positions), ref.embed(x, positions))
        torch.testing.assert_close(
            mod.rotate(q, q, positions, positions), ref.rotate(q, q, positions, positions)
        )


@pytest.mark.parametrize("heads", range(1, 17))
def test_alibi_slopes_match_bloom_for_any_head_count(heads: int) -> None:
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes

    torch.testing.assert_close(
        alibi_slopes(heads).float(), _get_alibi_slopes(heads, torch.device("cpu"))
    )


def test_rope_matches_llama_at_long_positions_and_offsets() -> None:
    rope, ref = (suite.get("position", n)().build(64, 4, 4096) for n in ("rope", "hf-rope"))
    q, k = torch.randn(2, 4, 16, 16), torch.randn(2, 2, 16, 16)
    pq = torch.tensor([[4000], [7]]) + torch.arange(16)[None] % 80
    pk = pq.clamp(max=4095)
    for mine, theirs in zip(rope.rotate(q, k, pq, pk), ref.rotate(q, k, pq, pk)):
        torch.testing.assert_close(mine, theirs, atol=2e-3, rtol=1e-3)  # HF's float32 angles


def test_sinusoid_table_is_vaswani_formula() -> None:
    pe = sinusoid_table(torch.arange(3), 6)
    assert torch.allclose(pe[2, 0], torch.tensor(2.0).sin().double())
    assert torch.allclose(pe[2, 1], torch.tensor(2.0).cos().double())
    assert torch.allclose(pe[1, 2], torch.tensor(10000 ** (-2 / 6)).sin().double())


def test_encoder_default_keeps_learned_table_and_components_plug_in() -> None:
    config = EncoderConfig(vocab_size=10, max_len=16, d_model=16, n_heads=2, n_layers=1)
    sdpa = suite.get("attention", "sdpa")
    default = TransformerEncoder(config, sdpa)
    assert isinstance(default.position, torch.nn.Embedding) and default.positional is None
    ids = torch.randint(0, 10, (2, 9))
    assert default(ids).shape == (2, 9, 16)
    for name in ("sinusoidal", "learned", "rope", "alibi", "none"):
        model = TransformerEncoder(config, sdpa, suite.get("position", name))
        assert model.position is None and model.positional is not None
        out = model(ids)
        assert out.shape == (2, 9, 16) and torch.isfinite(out).all()


def test_multihead_attention_rotates_and_biases_self_attention() -> None:
    torch.manual_seed(0)
    alibi = suite.get("position", "alibi")().build(16, 2, 32)
    plain = MultiHeadAttention(16, 2, suite.get("attention", "naive")())
    biased = MultiHeadAttention(16, 2, suite.get("attention", "naive")(), position=alibi)
    biased.load_state_dict(plain.state_dict())
    x = torch.randn(1, 6, 16)
    assert (plain(x) - biased(x)).abs().max() > 1e-3
    # the bias reaches the attention call: the same layer by hand with attn_bias
    q = plain.q_proj(x).view(1, 6, 2, 8).transpose(1, 2)
    k, v = plain.kv_proj(x).view(1, 6, 2, 2, 8).permute(2, 0, 3, 1, 4).unbind(0)
    out = suite.get("attention", "sdpa")()(q, k, v, attn_bias=alibi.bias(6, 6))
    expected = plain.out_proj(out.transpose(1, 2).reshape(1, 6, 16))
    torch.testing.assert_close(biased(x), expected, atol=1e-5, rtol=1e-5)
