"""Beam search from scratch, batched, with transformers' length penalty and stopping rules.

The bookkeeping follows the vectorised beam search of transformers 5 (`GenerationMixin.
_beam_search`), so that both return the same tokens and scores: per batch row, `num_beams`
running hypotheses and `num_beams` finished ones. Each step scores every running beam's
every continuation, keeps the best `keep` = max(2, 1 + #EOS) · num_beams candidates (enough
that `num_beams` survive even if many of them end), moves the candidates that end (EOS, or
the token budget) among the top `num_beams` into the finished set with the score
Σ log p / generated_length^length_penalty, and continues the best `num_beams` that do not end.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.decoding.common import Stepper, greedy_search, length_penalised
from suite import Decoder

__all__ = ["BeamSearch"]

_NEG = -1.0e9  # "impossible" score, added rather than assigned, as transformers does


def _gather(tensor: Tensor, index: Tensor) -> Tensor:
    """`tensor (B, K, ...)` at beams `index (B, K')` -> `(B, K', ...)`."""
    while index.dim() < tensor.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(tensor, index, dim=1)


class BeamSearch(Decoder):
    """Beam search: keep the `num_beams` best partial sequences by total log-probability.

    Interview question: "Why beam search, and why does it not fix everything?" Greedy commits
    to each token; beam search keeps several prefixes alive, so a path that starts with a
    less likely token but continues with near-certain ones can win. It is still an
    approximate search for argmax p(y|x), and the exact argmax is often not the text you want:
    short and repetitive sequences have high probability, hence the length penalty.

    Formula: score(y) = Σ_t log p(y_t | y_<t) / |y|^α, |y| the generated length, α the
    `length_penalty` (α > 0 favours longer finished hypotheses, α < 0 shorter ones).

    Pitfalls: `early_stopping=True` stops a row as soon as `num_beams` hypotheses have
    finished; False stops when the best running score, at its current length, cannot beat
    the worst finished one; "never" assumes it could still grow to the token budget when
    α > 0 (the canonical search). Start with one live beam, the others at -inf, or the
    K beams are K copies of the same hypothesis. The cache must be reordered to follow the
    surviving beams.
    """

    name = "beam"
    summary = "batched beam search with length penalty, early stopping and EOS (from scratch)"
    reference = "hf-beam"
    scores_sequences: ClassVar[bool] = True
    width_option: ClassVar[str | None] = "num_beams"

    def __init__(
        self,
        *,
        num_beams: int = 4,
        length_penalty: float = 1.0,
        early_stopping: bool | str = False,
        use_cache: bool = True,
    ) -> None:
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {num_beams}")
        if early_stopping not in (True, False, "never"):
            raise ValueError(
                f'early_stopping must be True, False or "never", got {early_stopping!r}'
            )
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.early_stopping, self.use_cache = early_stopping, use_cache

    @classmethod
    def option_choices(cls) -> dict[str, list[Any]]:
        return {
            "num_beams": [1, 2, 3, 4],
            "length_penalty": [1.0, 0.0, 2.0, -1.0],
            "early_stopping": [False, True, "never"],
        }

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        b, prompt_len = input_ids.shape
        k, alpha, device = self.num_beams, self.length_penalty, input_ids.device
        if max_new_tokens == 0:
            self.sequence_scores = torch.zeros(b, device=device)
            return input_ids
        if k == 1:  # one beam is greedy search (transformers switches to it too)
            sequences, log_prob, lengths = greedy_search(
                model,
                input_ids,
                max_new_tokens,
                eos_token_id=eos_token_id,
                use_cache=self.use_cache,
            )
            self.sequence_scores = length_penalised(log_prob, lengths, alpha)
            return sequences
        max_len = prompt_len + max_new_tokens
        keep = max(2, 1 + (eos_token_id is not None)) * k
        fill = eos_token_id if eos_token_id is not None else -1
        running = torch.full((b, k, max_len), fill, dtype=torch.long, device=device)
        running[:, :, :prompt_len] = input_ids[:, None]
        finished = running.clone()
        running_scores = torch.zeros(b, k, device=device)
        running_scores[:, 1:] = _NEG  # one live beam at first, or all K would be copies
        finished_scores = torch.full((b, k), _NEG, device=device)
        finished_lens = torch.zeros(b, k, dtype=torch.long, device=device)
        is_finished = torch.zeros(b, k, dtype=torch.bool, device=device)
        improvable = torch.ones(b, 1, dtype=torch.bool, device=device)
        offsets = torch.arange(b, device=device)[:, None] * k  # row of beam j of item i: i·K + j
        in_top_k = torch.arange(keep, device=device) < k  # (keep,)

        stepper = Stepper(model, use_cache=self.use_cache)
        logits = stepper.prefill(input_ids.repeat_interleave(k, dim=0))  # (B·K, V)
        cur = prompt_len
        while True:
            if cur > prompt_len:
                logits = stepper.step(running[:, :, :cur].reshape(b * k, cur))
            vocab = logits.shape[-1]
            logp = logits.log_softmax(dim=-1).view(b, k, vocab) + running_scores[:, :, None]
            top_scores, top_index = logp.view(b, k * vocab).topk(keep, dim=-1)  # (B, keep)
            parent, token = top_index // vocab, top_index % vocab
            candidates = _gather(running, parent)  # (B, keep, max_len)
            candidates[:, :, cur] = token
            ends = torch.full_like(token, cur + 1 >= max_len, dtype=torch.bool)
            if eos_token_id is not None:
                ends |= token == eos_token_id

            # the best K candidates that go on are the next running beams
            alive_scores = top_scores + ends.float() * _NEG
            best = alive_scores.topk(k, dim=-1).indices  # (B, K)
            running = _gather(candidates, best)
            running_scores = _gather(alive_scores, best)
            rows = (_gather(parent, best) + offsets).reshape(-1)  # (B·K,) cache rows to keep

            # candidates among the top K that end join the finished set if they score higher
            generated = cur + 1 - prompt_len
            penalised = top_scores / (generated**alpha)
            full = is_finished.all(dim=-1, keepdim=True) & (self.early_stopping is True)
            penalised = penalised + full.float() * _NEG + (~improvable).float() * _NEG
            just_ended = ends & in_top_k[None]
            penalised = penalised + (~just_ended).float() * _NEG
            merged_scores = torch.cat([finished_scores, penalised], dim=1)  # (B, K + keep)
            chosen = merged_scores.topk(k, dim=-1).indices
            finished = _gather(torch.cat([finished, candidates], dim=1), chosen)
            finished_scores = _gather(merged_scores, chosen)
            new_lens = torch.full_like(token, generated)
            finished_lens = _gather(torch.cat([finished_lens, new_lens], dim=1), chosen)
            is_finished = _gather(torch.cat([is_finished, just_ended], dim=1), chosen)

            stepper.reorder(rows)
            cur += 1
            improvable = improvable & self._may_improve(
                running_scores, finished_scores, is_finished, cur - prompt_len, max_new_tokens
            )
            open_beams = not (bool(is_finished.all()) and self.early_stopping is True)
            if not (bool(improvable.any()) and open_beams and not bool(ends.all())):
                break

        self.sequence_scores = finished_scores[:, 0]
        length = prompt_len + int(finished_lens[:, 0].max())
        return finished[:, 0, :length]

    def _may_improve(
        self,
        running_scores: Tensor,
        finished_scores: Tensor,
        is_finished: Tensor,
        generated: int,
        max_new_tokens: int,
    ) -> Tensor:
        """`(B, 1)`: whether the best running beam could still beat the worst finished one.

        Its best hypothetical length is the current one, or with early_stopping="never" and
        a positive length penalty the whole budget (longer then scores higher)."""
        alpha = self.length_penalty
        best_len = max_new_tokens if self.early_stopping == "never" and alpha > 0 else generated
        best_running = running_scores[:, :1] / (best_len**alpha)
        worst_finished = torch.where(
            is_finished, finished_scores.min(dim=1, keepdim=True).values, _NEG
        )
        return (best_running > worst_finished).any(dim=-1, keepdim=True)
