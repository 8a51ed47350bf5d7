"""The causal-LM protocol: the KV cache changes no logits, its bytes follow the formula, GQA
shrinks it, beams reorder it; the GPT-2 adapter behaves the same."""

from __future__ import annotations

import pytest
import torch

from plugins.decoding.data import MarkovLM, garden_path_chain, tiny_gpt2_model, tiny_lm
from suite.lm import KVCache, kv_cache_bytes, sequence_log_probs


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_cached_logits_equal_full_recompute_and_bytes_follow_the_formula(kv_heads: int) -> None:
    model = tiny_lm(0, n_heads=4, n_kv_heads=kv_heads)
    ids = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, _ = model(ids)
        first, cache = model(ids[:, :5])
        rest, cache = model(ids[:, 5:], cache)  # a filled cache takes tokens one at a time
    torch.testing.assert_close(torch.cat([first, rest], dim=1), full, atol=1e-5, rtol=1e-5)
    assert isinstance(cache, KVCache) and cache.length == 9
    expected = kv_cache_bytes(model.config.n_layers, kv_heads, model.head_dim, 9, 4, batch=2)
    assert cache.nbytes == expected


def test_cache_reorder_keeps_the_chosen_rows() -> None:
    model = tiny_lm(1)
    ids = torch.randint(0, 64, (3, 4), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, cache = model(ids)
        cache.reorder(torch.tensor([2, 2, 0]))
        step, _ = model(torch.tensor([[5], [5], [5]]), cache)
        alone, _ = model(torch.cat([ids[[2, 2, 0]], torch.full((3, 1), 5)], dim=1))
    torch.testing.assert_close(step[:, -1], alone[:, -1], atol=1e-5, rtol=1e-5)


def test_gpt2_adapter_cache_matches_full_recompute_and_formula() -> None:
    model = tiny_gpt2_model(0)
    ids = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(ids)
        a, cache = model(ids[:, :4])
        b, cache = model(ids[:, 4:], cache)
    torch.testing.assert_close(torch.cat([a, b], dim=1), full, atol=1e-4, rtol=1e-4)
    config = model.hf_model.config
    assert cache.nbytes == kv_cache_bytes(
        config.n_layer, config.n_head, config.n_embd // config.n_head, 7, 4, batch=2
    )


def test_garden_path_chain_makes_greedy_suboptimal() -> None:
    model = MarkovLM(garden_path_chain())
    start = torch.zeros(1, 1, dtype=torch.long)
    greedy = torch.tensor([[0, 1, 3, 0]])  # the bait, a flat token, back to the hub
    good = torch.tensor([[0, 2, 0, 1]])  # the good token, back to the hub, then anything
    assert float(sequence_log_probs(model, good[:, :3], 1)) > float(
        sequence_log_probs(model, greedy[:, :3], 1)
    )
    with torch.no_grad():
        logits, _ = model(start)
    assert int(logits[0, -1].argmax()) == 1
