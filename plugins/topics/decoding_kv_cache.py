"""Interview topic of the area decoding: the KV cache, what it saves and what it costs in memory."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite
from plugins.decoding.data import tiny_lm
from plugins.topics._decoding_common import _decoder
from suite.lm import kv_cache_bytes
from suite.threads import single_thread


class KVCacheTopic(suite.Topic):
    """During generation the keys and values of past tokens never change, so a decoder caches
    them per layer and feeds the model only the new token: each step then costs attention of one
    query over T keys instead of re-running the whole prefix, and the logits are the same. The
    price is memory that grows linearly with the sequence: 2 · layers · Hkv · head_dim · T
    numbers per sequence. Grouped-query attention shares each key/value head among H / Hkv query
    heads, which shrinks the cache by exactly that factor.

    Formula: bytes = 2 · L · B · Hkv · d_head · T · bytes_per_element;  tokens the model reads:
    T + n with the cache, Σ_{i<n} (T + i) without

    Pitfalls:
    - the cache stores keys after the positional rotation (RoPE), at the positions they had.
    - beam search must reorder the cache to follow the surviving beams.
    - at long contexts the cache, not the weights, dominates inference memory and bandwidth.

    Follow-up questions:
    - How do paged attention and cache quantisation reduce the cost?
    - Why does multi-query attention hurt quality less than its cache saving suggests?
    - What changes for sliding-window attention's cache?
    """

    name = "kv-cache"
    area = "decoding"
    question = "What does the KV cache save, what does it cost, and why does GQA shrink it?"
    components = ("decoding:greedy",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        prompt_len, n = 8, ctx.pick(48, 16)
        ids = torch.randint(0, 64, (2, prompt_len), generator=g)
        rows = []
        outputs = {}
        with torch.no_grad(), single_thread():
            for kv_heads in (4, 2, 1):
                model = tiny_lm(ctx.seed, n_heads=4, n_kv_heads=kv_heads)
                counter = _CountingLM(model)
                cached = _decoder("greedy").generate(counter, ids, n)
                read_cached = counter.tokens
                counter.tokens = 0
                plain = _decoder("greedy", use_cache=False).generate(counter, ids, n)
                _, cache = model(cached)
                formula = kv_cache_bytes(
                    model.config.n_layers, kv_heads, model.head_dim, cached.shape[1], 4, batch=2
                )
                outputs[kv_heads] = (cached, plain)
                rows.append(
                    {
                        "kv_heads": kv_heads,
                        "cache_bytes": cache.nbytes,
                        "formula_bytes": formula,
                        "tokens_read_cached": read_cached,
                        "tokens_read_uncached": counter.tokens,
                    }
                )
        same = all(torch.equal(a, b) for a, b in outputs.values())
        full = rows[0]["cache_bytes"]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "measured cache bytes equal 2·L·B·Hkv·d_head·T·4 at Hkv = 4, 2, 1 "
                    "({a:.0f}, {b:.0f}, {c:.0f} bytes)",
                    holds=all(r["cache_bytes"] == r["formula_bytes"] for r in rows),
                    a=rows[0]["cache_bytes"],
                    b=rows[1]["cache_bytes"],
                    c=rows[2]["cache_bytes"],
                ),
                suite.Claim.of(
                    "GQA shrinks the cache by H / Hkv: ratios {r2:.3g} and {r1:.3g} for Hkv = 2 and 1",
                    holds=full == 2 * rows[1]["cache_bytes"] == 4 * rows[2]["cache_bytes"],
                    r2=full / rows[1]["cache_bytes"],
                    r1=full / rows[2]["cache_bytes"],
                ),
                suite.Claim.of(
                    "with the cache the model reads {c:.0f} tokens for {n:.0f} new ones; without it "
                    "{u:.0f}, and the generated tokens are the same",
                    holds=same
                    and rows[0]["tokens_read_uncached"] > 4 * rows[0]["tokens_read_cached"],
                    c=rows[0]["tokens_read_cached"],
                    u=rows[0]["tokens_read_uncached"],
                    n=n,
                ),
            ],
            note=f"suite TinyCausalLM, 2 layers, 4 query heads, d_head 8; batch 2, prompt "
            f"{prompt_len}, {n} new tokens, float32",
        )


class _CountingLM(nn.Module):
    """A causal LM that counts the input tokens it reads (batch rows included)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.tokens = model, 0

    def forward(self, input_ids: Tensor, cache: object = None) -> tuple[Tensor, object]:
        self.tokens += input_ids.numel()
        return self.model(input_ids, cache)


TOPICS: tuple[type[suite.Topic], ...] = (KVCacheTopic,)
