"""Registration, concept cards, options, patterns, and that sparse work grows with attended pairs."""

from __future__ import annotations

import pytest
import torch

import suite
from plugins.attention import BENCHMARKS, COMPONENTS
from plugins.attention.bigbird import BigBirdAttention
from plugins.attention.sliding_window import SlidingWindowAttention
from plugins.attention.strided import StridedAttention
from suite.errors import ComponentInputError
from suite.plugins import PluginHost

SPARSE = (SlidingWindowAttention, StridedAttention, BigBirdAttention)


def test_plugin_registers_every_component_and_benchmark() -> None:
    host = PluginHost(["plugins.attention"], entry_points=False).load()
    (record,) = host.records
    assert record.status == "ok", record.error
    names = {cls.name for cls in host.registry.components("attention")}
    assert names == {"naive", "sdpa", "flash", "sliding-window", "strided", "bigbird", "linear"}
    assert {b.name for b in host.registry.benchmarks("attention")} == {b.name for b in BENCHMARKS}
    assert host.registry.get("attention", "sdpa").reference is None


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_concept_card_and_contract_attributes(cls) -> None:
    assert cls.kind == "attention" and cls.summary
    assert "Interview question" in cls.concept_card()
    assert cls.reference in (None, "sdpa")
    assert cls.exact is (cls.name != "linear")


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_unknown_option_and_bad_shapes_are_rejected(cls) -> None:
    with pytest.raises(TypeError):
        cls(no_such_option=1)
    att = cls()
    q = torch.randn(1, 3, 4, 8)
    kv = torch.randn(1, 2, 4, 8)  # 2 kv heads do not divide 3 query heads
    with pytest.raises(ComponentInputError, match="divide"):
        att(q, kv, kv)


@pytest.mark.parametrize("cls", SPARSE, ids=lambda c: c.name)
def test_bad_sparse_options_name_the_value(cls) -> None:
    with pytest.raises(ValueError, match="-3"):
        cls(block_size=-3)
    with pytest.raises(ValueError, match="backend"):
        cls(backend="cuda-magic")


def test_patterns_are_what_the_concept_cards_say() -> None:
    band = SlidingWindowAttention(window=2).pattern(6, 6)
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    assert torch.equal(band, (i - j).abs() <= 2)
    strided = StridedAttention(window=1, stride=4).pattern(9, 9)
    i9, j9 = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")
    assert torch.equal(strided, ((i9 - j9).abs() <= 1) | (j9 % 4 == 3))
    big = BigBirdAttention(block_size=2, window_blocks=0, n_global=1, n_random=1, seed=3)
    p = big.pattern(8, 8)
    assert p[0].all() and p[:, 0].all()  # a global token sees and is seen by all
    assert torch.equal(p, big.pattern(8, 8))  # seeded: the same graph every time
    assert (p[2:, 1:].float().mean() < 1.0).item()


@pytest.mark.parametrize("cls", SPARSE, ids=lambda c: c.name)
@pytest.mark.parametrize("causal", [False, True])
def test_attended_pairs_counts_the_pattern(cls, causal: bool) -> None:
    att = cls(block_size=8, n_global=3) if cls is BigBirdAttention else cls(block_size=8, window=5)
    t = 77
    expected = att.pattern(t, t)
    if causal:
        expected = expected & torch.ones(t, t, dtype=torch.bool).tril()
    assert att.attended_pairs(t, t, causal=causal) == int(expected.sum())


@pytest.mark.parametrize("cls", [SlidingWindowAttention, BigBirdAttention], ids=lambda c: c.name)
def test_gathered_width_does_not_grow_with_length(cls) -> None:
    """Keys per query block stay fixed: memory and time are O(T·K), not O(T²)."""
    att = cls()
    widths = {
        t: att.layout(t, t, causal=False, device=torch.device("cpu")).key_index.shape[1]
        for t in (1024, 4096, 16384)
    }
    assert widths[1024] == widths[4096] == widths[16384] < 1024


def test_strided_columns_grow_as_t_over_stride() -> None:
    att = StridedAttention(window=8, stride=32, block_size=16)
    w1 = att.layout(1024, 1024, causal=False, device=torch.device("cpu")).key_index.shape[1]
    w2 = att.layout(2048, 2048, causal=False, device=torch.device("cpu")).key_index.shape[1]
    assert w2 - w1 == 1024 // 32


def test_suite_lookup_finds_components(fresh_host) -> None:
    import plugins.attention as module

    fresh_host.register_plugin(module, "plugins.attention")
    assert suite.get("attention", "bigbird") is BigBirdAttention
