"""transformers' `generate`, wrapped as decoders: the references greedy, beam and sample must match.

Each reference runs `model.hf_model.generate(...)` with the same settings, so it needs a model
that carries a HuggingFace causal LM: `suite.lm.HFCausalLM` (`suite.lm.tiny_gpt2` builds one
from a random `GPT2Config`). The settings transformers would otherwise take from the model's
generation config are all passed explicitly (its default `top_k` is 50, not "off"), finished
rows are padded with `eos_token_id`, and a sampling reference seeds torch's global generator
from the given `generator` (transformers draws from the global one) inside `fork_rng`, so the
caller's global state is untouched.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from suite import Decoder
from suite.errors import ComponentInputError

__all__ = ["HFBeam", "HFGreedy", "HFSample"]


def _hf_generate(
    model: Any,
    input_ids: Tensor,
    max_new_tokens: int,
    eos_token_id: int | None,
    **settings: Any,
) -> Any:
    hf_model = getattr(model, "hf_model", None)
    if hf_model is None or not hasattr(hf_model, "generate"):
        raise ComponentInputError(
            f"transformers' generate needs a HuggingFace model: wrap one in suite.lm.HFCausalLM "
            f"(suite.lm.tiny_gpt2 builds one); got {type(model).__name__}"
        )
    with torch.no_grad():
        return hf_model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            min_new_tokens=0,
            eos_token_id=eos_token_id,
            pad_token_id=eos_token_id if eos_token_id is not None else 0,
            return_dict_in_generate=True,
            output_scores=True,
            **settings,
        )


def _greedy_scores(
    out: Any, prompt_len: int, eos_token_id: int | None, length_penalty: float
) -> Tensor:
    """Σ log p / n^α of greedy output, from the per-step logits transformers returns."""
    tokens = out.sequences[:, prompt_len:]  # (B, n)
    steps = torch.stack(out.scores, dim=1).float().log_softmax(-1)  # (B, n, V)
    chosen = steps.gather(-1, tokens[..., None]).squeeze(-1)  # (B, n)
    live = torch.ones_like(tokens, dtype=torch.bool)
    if eos_token_id is not None:  # a row's tokens after its first EOS are padding
        ended = (tokens == eos_token_id).long().cumsum(dim=1)
        live = (ended == 0) | ((ended == 1) & (tokens == eos_token_id))
    log_prob = (chosen * live).sum(dim=1)
    lengths = live.sum(dim=1)
    return log_prob / lengths.clamp(min=1).double().pow(length_penalty).to(log_prob.dtype)


class HFGreedy(Decoder):
    """`model.generate(do_sample=False, num_beams=1)`: transformers' greedy search (reference)."""

    name = "hf-greedy"
    summary = "transformers generate, greedy (reference)"
    reference = None
    hf_only: ClassVar[bool] = True

    def __init__(self, *, use_cache: bool = True) -> None:
        self.use_cache = use_cache

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        if max_new_tokens == 0:
            return input_ids
        out = _hf_generate(
            model,
            input_ids,
            max_new_tokens,
            eos_token_id,
            do_sample=False,
            num_beams=1,
            use_cache=self.use_cache,
        )
        return out.sequences


class HFBeam(Decoder):
    """`model.generate(num_beams=K, length_penalty=α, early_stopping=...)`: transformers' beam
    search (reference); `sequence_scores` are its `sequences_scores`."""

    name = "hf-beam"
    summary = "transformers generate, beam search (reference)"
    reference = None
    hf_only: ClassVar[bool] = True
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
        self.num_beams, self.length_penalty = num_beams, length_penalty
        self.early_stopping, self.use_cache = early_stopping, use_cache

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        if max_new_tokens == 0:
            self.sequence_scores = torch.zeros(input_ids.shape[0])
            return input_ids
        beam_settings: dict[str, Any] = {}
        if self.num_beams > 1:  # at one beam transformers runs greedy search and warns about these
            beam_settings = {
                "length_penalty": self.length_penalty,
                "early_stopping": self.early_stopping,
            }
        out = _hf_generate(
            model,
            input_ids,
            max_new_tokens,
            eos_token_id,
            do_sample=False,
            num_beams=self.num_beams,
            use_cache=self.use_cache,
            **beam_settings,
        )
        if self.num_beams == 1:  # transformers ran greedy search, which keeps no sequence score
            self.sequence_scores = _greedy_scores(
                out, input_ids.shape[1], eos_token_id, self.length_penalty
            )
        else:
            self.sequence_scores = out.sequences_scores
        return out.sequences


class HFSample(Decoder):
    """`model.generate(do_sample=True, temperature, top_k, top_p)`: transformers' sampling
    (reference), seeded from `generator`."""

    name = "hf-sample"
    summary = "transformers generate, sampling with temperature, top-k, top-p (reference)"
    reference = None
    practice_target = True  # `nlpsuite practice decoding` writes a top-k/top-p sampler
    hf_only: ClassVar[bool] = True
    deterministic: ClassVar[bool] = False
    sampling_options: ClassVar[tuple[str, ...]] = ("temperature", "top_k", "top_p")

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.use_cache = use_cache

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        if max_new_tokens == 0:
            return input_ids
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = _hf_generate(
                model,
                input_ids,
                max_new_tokens,
                eos_token_id,
                do_sample=True,
                num_beams=1,
                temperature=self.temperature,
                top_k=self.top_k or 0,  # transformers: 0 = no top-k (its default is 50)
                top_p=1.0 if self.top_p is None else self.top_p,
                use_cache=self.use_cache,
            )
        return out.sequences
