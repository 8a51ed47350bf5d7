"""Correct decoders written differently from the built-ins: greedy one row at a time without a
cache, and a sampler that inverts the cumulative distribution instead of calling multinomial."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

import suite


class RowByRowGreedy(suite.Decoder):
    """Greedy decoding of each prompt on its own, re-reading the whole row every step."""

    name = "kit-row-greedy"
    summary = "greedy, one row at a time, no cache"
    reference = "hf-greedy"

    @torch.no_grad()
    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        rows = []
        for row in input_ids:
            ids = row[None]
            for _ in range(max_new_tokens):
                logits, _ = model(ids, None)
                token = int(logits[0, -1].float().argmax())
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
                if token == eos_token_id:
                    break
            rows.append(ids[0])
        width = max(len(r) for r in rows)
        pad = eos_token_id if eos_token_id is not None else 0
        return torch.stack([torch.cat([r, r.new_full((width - len(r),), pad)]) for r in rows])


class InverseCdfSampler(suite.Decoder):
    """Temperature, top-k and top-p, then the token whose cumulative probability first exceeds a
    uniform draw from `generator`."""

    name = "kit-inverse-cdf-sampler"
    summary = "sampling by inverting the CDF of the filtered distribution"
    reference = "hf-sample"
    deterministic: ClassVar[bool] = False
    sampling_options: ClassVar[tuple[str, ...]] = ("temperature", "top_k", "top_p")

    def __init__(
        self, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
    ) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    @classmethod
    def option_choices(cls) -> dict[str, list[Any]]:
        return {"temperature": [0.5, 1.0, 2.0], "top_k": [None, 2], "top_p": [None, 0.5, 0.9]}

    @torch.no_grad()
    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        out = input_ids
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        for _ in range(max_new_tokens):
            logits, _ = model(out, None)
            probs = (logits[:, -1].double() / self.temperature).softmax(-1)
            ordered, order = probs.sort(dim=-1, descending=True)  # likeliest first
            keep = torch.ones_like(ordered, dtype=torch.bool)
            if self.top_k:
                keep[:, self.top_k :] = False
            if self.top_p is not None:
                renorm = ordered * keep / (ordered * keep).sum(-1, keepdim=True)
                keep &= renorm.cumsum(-1) - renorm < self.top_p
            kept = ordered * keep
            cdf = (kept / kept.sum(-1, keepdim=True)).cumsum(-1)
            u = torch.rand(out.shape[0], 1, generator=generator, dtype=torch.float64)
            index = (cdf < u).sum(-1, keepdim=True).clamp(max=kept.shape[-1] - 1)
            index = torch.minimum(index, keep.sum(-1, keepdim=True) - 1)
            token = order.gather(1, index).squeeze(1)
            if eos_token_id is not None:
                token = torch.where(done, torch.full_like(token, eos_token_id), token)
                done |= token == eos_token_id
            out = torch.cat([out, token[:, None]], dim=1)
            if eos_token_id is not None and bool(done.all()):
                break
        return out
