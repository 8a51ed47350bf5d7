"""Properties of decoders: the output contract, agreement with the reference, greedy at width 1,
the KV cache, seeded sampling and the sampled distribution.

Models are tiny and random, built from the example's seed: a HuggingFace GPT-2
(`suite.lm.tiny_gpt2`) or the suite's `TinyCausalLM`; a decoder that declares `hf_only` gets
GPT-2 only. What is checked follows the declared attributes of `suite.Decoder`:
`deterministic` decoders must return the reference's tokens (and `scores_sequences` ones its
scores); a `width_option` at 1 must be greedy (against the kit's own argmax loop); a decoder
that accepts `use_cache` must not change its tokens without the cache; samplers
(`deterministic = False`) must be reproducible under the same generator seed and draw from
the distribution their `sampling_options` define (chi-square test against the kit's float64
filter: temperature, then top-k, then the smallest set whose probability reaches top-p).

Near-ties are not bugs: when two candidates' log-probabilities differ by less than `TIE`, or a
token sits on a top-k or top-p boundary within `TIE`, float32 rounding may pick either, and the
example is skipped rather than failed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    PropertySkip,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import call_component, generator

__all__: list[str] = []

TIE = 1e-4  # log-probability gap below which float32 rounding may break a tie either way
SCORE_ATOL = 1e-4
SAMPLES = 3000  # draws for the distribution checks
P_VALUE = 1e-4  # chi-square rejection level: a correct sampler fails once in 10⁴ examples


# --------------------------------------------------------------------------- helpers


def _model(ex: Example, hf_only: bool) -> Any:
    from suite.lm import LMConfig, TinyCausalLM, tiny_gpt2

    if ex["model"] == "gpt2" or hf_only:
        return tiny_gpt2(
            vocab_size=ex["vocab"],
            n_layer=ex["layers"],
            n_head=ex["heads"],
            n_embd=ex["width"],
            n_positions=64,
            seed=ex["seed"] % (2**31),
        )
    config = LMConfig(
        vocab_size=ex["vocab"],
        max_len=64,
        d_model=ex["width"],
        n_heads=ex["heads"],
        n_layers=ex["layers"],
        d_hidden=2 * ex["width"],
        logit_scale=4.0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(ex["seed"] % (2**31))
        return TinyCausalLM(config).eval()


def _hf_only(subject: Subject) -> bool:
    ref = subject.reference
    return bool(getattr(subject.cls, "hf_only", False) or getattr(ref, "hf_only", False))


def _prompt(ex: Example, batch: int | None = None) -> Tensor:
    b = ex["batch"] if batch is None else batch
    return torch.randint(0, ex["vocab"], (b, ex["prompt"]), generator=generator(ex["seed"], 1))


def _options(cls: type[Any], ex: Example, **extra: Any) -> dict[str, Any]:
    accepted = cls.accepted_options()
    return {k: v for k, v in {**ex["options"], **extra}.items() if k in accepted}


def _make(cls: type[Any], options: dict[str, Any]) -> Any:
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return call_component(f"{cls.__name__}({args})", lambda: cls(**options))


def _generate(
    dec: Any, model: Any, ids: Tensor, ex: Example, *, seed: int | None = None, n: int | None = None
) -> Tensor:
    new = ex["new_tokens"] if n is None else n
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    what = f"generate(model, input_ids {tuple(ids.shape)}, {new}, eos_token_id={ex['eos']})"
    with torch.no_grad():
        out = call_component(
            what, dec.generate, model, ids, new, eos_token_id=ex["eos"], generator=gen
        )
    _check_output(out, ids, new, ex)
    return out


def _check_output(out: Any, ids: Tensor, new: int, ex: Example) -> None:
    b, t = ids.shape
    if not isinstance(out, Tensor) or out.dtype != torch.long or out.dim() != 2:
        fail(
            f"generate must return a long (B, T + n) tensor, got {getattr(out, 'dtype', type(out).__name__)} {tuple(getattr(out, 'shape', ()))}"
        )
    if out.shape[0] != b or not t <= out.shape[1] <= t + new:
        fail(
            f"generate returned shape {tuple(out.shape)}; expected ({b}, T + n) with T = {t}, n <= {new}"
        )
    if not torch.equal(out[:, :t], ids):
        fail("the returned rows must start with the prompt, unchanged")
    if out.numel() and (int(out.min()) < 0 or int(out.max()) >= ex["vocab"]):
        fail(
            f"generated ids must lie in range(vocab_size) = range({ex['vocab']}); got {out.min()}..{out.max()}"
        )
    eos = ex["eos"]
    if eos is not None:
        tail = out[:, t:]
        seen = (tail == eos).long().cumsum(dim=1)
        after = seen > 0
        after[:, 1:] = after[:, :-1].clone()
        after[:, 0] = False
        if bool((after & (tail != eos)).any()):
            fail(
                f"a row generated a token after eos_token_id {eos}; finished rows are padded with it"
            )
        if out.shape[1] < t + new and not bool((tail == eos).any(dim=1).all()):
            fail(
                f"generate stopped at {out.shape[1] - t} of {new} tokens while a row had not emitted eos_token_id {eos}"
            )
    elif out.shape[1] != t + new:
        fail(f"without eos_token_id generate must produce all {new} tokens; got {out.shape[1] - t}")


@torch.no_grad()
def _greedy(model: Any, ids: Tensor, new: int, eos: int | None) -> Tensor:
    """The kit's greedy decoder: argmax over the whole sequence every step, EOS-padded rows."""
    out, unfinished = ids, torch.ones(ids.shape[0], dtype=torch.bool)
    for _ in range(new):
        logits, _ = model(out, None)
        token = logits[:, -1].float().argmax(-1)
        if eos is not None:
            token = torch.where(unfinished, token, torch.full_like(token, eos))
            unfinished &= token != eos
        out = torch.cat([out, token[:, None]], dim=1)
        if eos is not None and not bool(unfinished.any()):
            break
    return out


@torch.no_grad()
def _near_tie(model: Any, a: Tensor, b: Tensor, prompt_len: int) -> bool:
    """Whether the first position where rows `a` and `b` differ is a near-tie of the model."""
    n = min(a.shape[1], b.shape[1])
    differ = (a[:, :n] != b[:, :n]).nonzero()
    if differ.numel() == 0:
        return False
    row, col = int(differ[0, 0]), int(differ[0, 1])
    if col < prompt_len:
        return False
    logits, _ = model(a[row : row + 1, :col], None)
    logp = logits[0, -1].double().log_softmax(-1)
    return bool((logp[a[row, col]] - logp[b[row, col]]).abs() < TIE)


def _target_distribution(logits: Tensor, options: dict[str, Any]) -> tuple[Tensor, bool]:
    """The float64 distribution a sampler with `options` draws from, and whether a top-k or
    top-p boundary is within `TIE` (then float32 rounding may move it)."""
    z = logits.double() / float(options.get("temperature") or 1.0)
    boundary = False
    top_k = options.get("top_k")
    if top_k and top_k < z.numel():
        ordered = z.sort(descending=True).values
        boundary |= bool(ordered[top_k - 1] - ordered[top_k] < TIE)
        z = z.masked_fill(z < ordered[top_k - 1], float("-inf"))
    top_p = options.get("top_p")
    if top_p is not None and top_p < 1.0:
        ordered, order = z.sort(descending=True)
        probs = ordered.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass of the likelier tokens
        keep = before < top_p
        keep[0] = True
        boundary |= bool(((before - top_p).abs() < TIE).any())
        drop = torch.zeros_like(keep).scatter(0, order, ~keep)
        z = z.masked_fill(drop, float("-inf"))
    return z.softmax(-1), boundary


def _chi_square(counts: Tensor, expected: Tensor) -> float:
    """p-value of `counts` against `expected` counts over the possible tokens; bins expected
    below 5 are pooled."""
    from scipy.stats import chisquare

    possible = expected > 0  # impossible tokens are the "outside" check's business
    counts, expected = counts[possible], expected[possible]
    small = expected < 5
    obs = counts[~small].tolist()
    exp = expected[~small].tolist()
    if bool(small.any()):
        obs.append(float(counts[small].sum()))
        exp.append(float(expected[small].sum()))
    if len(obs) < 2:
        return 1.0
    total = sum(exp)
    exp = [e * sum(obs) / total for e in exp]
    return float(chisquare(obs, exp).pvalue)


# --------------------------------------------------------------------------- checks


def check_output(subject: Subject, ex: Example) -> None:
    model = _model(ex, _hf_only(subject))
    dec = _make(subject.cls, _options(subject.cls, ex))
    ids = _prompt(ex)
    _generate(dec, model, ids, ex, seed=ex["seed"])
    if subject.cls.scores_sequences:
        scores = getattr(dec, "sequence_scores", None)
        if not isinstance(scores, Tensor) or tuple(scores.shape) != (ids.shape[0],):
            fail(
                f"declares scores_sequences but sequence_scores is {getattr(scores, 'shape', scores)!r}, not shaped ({ids.shape[0]},)"
            )
        if not bool(torch.isfinite(scores).all()):
            fail(f"sequence_scores are not finite: {scores.tolist()}")


def check_reference(subject: Subject, ex: Example) -> None:
    ref_cls = subject.reference
    assert ref_cls is not None
    model = _model(ex, True)
    ids = _prompt(ex)
    options = _options(subject.cls, ex)
    dec, ref = _make(subject.cls, options), _make(ref_cls, _options(ref_cls, ex))
    out, expected = _generate(dec, model, ids, ex), _generate(ref, model, ids, ex)
    scored = subject.cls.scores_sequences and getattr(ref_cls, "scores_sequences", False)
    if out.shape != expected.shape or not torch.equal(out, expected):
        if scored:
            diff = (dec.sequence_scores.double() - ref.sequence_scores.double()).abs().max()
            if float(diff) < TIE:
                raise PropertySkip("different sequences with equal scores (a tie)")
        if out.shape == expected.shape and _near_tie(model, out, expected, ids.shape[1]):
            raise PropertySkip("the sequences part at a near-tie of the model")
        fail(
            f"with options {options} the tokens differ from {ref_cls.name}: {out[:, ids.shape[1] :].tolist()} vs {expected[:, ids.shape[1] :].tolist()}"
        )
    if scored:
        diff = float((dec.sequence_scores.double() - ref.sequence_scores.double()).abs().max())
        if diff > SCORE_ATOL:
            fail(
                f"with options {options} sequence_scores differ from {ref_cls.name}'s by {diff:.3g}: {dec.sequence_scores.tolist()} vs {ref.sequence_scores.tolist()}"
            )


def check_one_beam(subject: Subject, ex: Example) -> None:
    option = subject.cls.width_option
    model = _model(ex, _hf_only(subject))
    ids = _prompt(ex)
    dec = _make(subject.cls, _options(subject.cls, ex, **{option: 1}))
    out = _generate(dec, model, ids, ex)
    expected = _greedy(model, ids, ex["new_tokens"], ex["eos"])
    if out.shape != expected.shape or not torch.equal(out, expected):
        if out.shape == expected.shape and _near_tie(model, out, expected, ids.shape[1]):
            raise PropertySkip("the sequences part at a near-tie of the model")
        fail(
            f"with {option}=1 the tokens must be greedy's (argmax every step): {out[:, ids.shape[1] :].tolist()} vs {expected[:, ids.shape[1] :].tolist()}"
        )


def check_cache(subject: Subject, ex: Example) -> None:
    model = _model(ex, _hf_only(subject))
    ids = _prompt(ex)
    cached = _make(subject.cls, _options(subject.cls, ex, use_cache=True))
    plain = _make(subject.cls, _options(subject.cls, ex, use_cache=False))
    a = _generate(cached, model, ids, ex, seed=ex["seed"])
    b = _generate(plain, model, ids, ex, seed=ex["seed"])
    if a.shape != b.shape or not torch.equal(a, b):
        if a.shape == b.shape and _near_tie(model, a, b, ids.shape[1]):
            raise PropertySkip("the sequences part at a near-tie of the model")
        fail(
            f"decoding with the KV cache gives other tokens than without it: {a[:, ids.shape[1] :].tolist()} vs {b[:, ids.shape[1] :].tolist()}"
        )


def check_seeded(subject: Subject, ex: Example) -> None:
    model = _model(ex, _hf_only(subject))
    ids = _prompt(ex)
    dec = _make(subject.cls, _options(subject.cls, ex))
    a = _generate(dec, model, ids, ex, seed=ex["seed"])
    b = _generate(dec, model, ids, ex, seed=ex["seed"])
    if a.shape != b.shape or not torch.equal(a, b):
        fail(
            "two runs with generators seeded alike gave different tokens: draw every random number from `generator`"
        )


def _distribution_check(subject: Subject, ex: Example, options: dict[str, Any]) -> None:
    model = _model(ex, _hf_only(subject))
    prompt = _prompt(ex, batch=1)
    with torch.no_grad():
        logits, _ = model(prompt, None)
    target, boundary = _target_distribution(logits[0, -1], options)
    if boundary:
        raise PropertySkip("a token sits on the top-k / top-p boundary (within float rounding)")
    dec = _make(subject.cls, _options(subject.cls, {**ex, "options": options}))
    single = {**ex, "eos": None}
    out = _generate(
        dec, model, prompt.expand(SAMPLES, -1).contiguous(), single, seed=ex["seed"], n=1
    )
    counts = torch.bincount(out[:, -1], minlength=ex["vocab"]).double()
    outside = ((counts > 0) & (target == 0)).nonzero().flatten().tolist()
    if outside:
        fail(
            f"with options {options} sampled token(s) {outside} that the filters remove (probability 0 after temperature, top-k, top-p)"
        )
    missing = ((counts == 0) & (target * SAMPLES >= 10)).nonzero().flatten().tolist()
    if missing:
        fail(
            f"with options {options} token(s) {missing} that the filters keep were never drawn in {SAMPLES} samples (expected {[round(float(target[i]) * SAMPLES) for i in missing]}): the kept set is too small"
        )
    p = _chi_square(counts, target * SAMPLES)
    if p < P_VALUE:
        worst = int(((counts - target * SAMPLES).abs()).argmax())
        fail(
            f"with options {options} the {SAMPLES} samples do not follow the filtered distribution (chi-square p = {p:.2g}; token {worst}: {int(counts[worst])} drawn, {float(target[worst]) * SAMPLES:.1f} expected)"
        )


def check_distribution(subject: Subject, ex: Example) -> None:
    _distribution_check(subject, ex, dict(ex["options"]))


def check_nucleus(subject: Subject, ex: Example) -> None:
    options = {"top_p": ex["options"].get("top_p") or 0.6}
    _distribution_check(subject, ex, options)


def _needs(what: str, test: Any) -> Any:
    return lambda s: None if test(s) else what


_is_deterministic = _needs("a sampler (deterministic = False)", lambda s: s.cls.deterministic)
_is_sampler = _needs("deterministic (a search, not a sampler)", lambda s: not s.cls.deterministic)


def _reference_applies(subject: Subject) -> str | None:
    if subject.reference is None:
        return f"no reference in reach ({subject.reference_note})"
    return _is_deterministic(subject)


for _prop in (
    Property(
        "decoding.output",
        "decoding",
        "generate returns the prompt then at most max_new_tokens ids in the vocabulary, EOS-padded rows, all tokens when there is no EOS",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices()),
        check_output,
        cost=0.6,
    ),
    Property(
        "decoding.reference-agreement",
        "decoding",
        "a deterministic decoder returns the reference's tokens (and sequence scores) for random tiny models, prompts and options",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices(), models=("gpt2",)),
        check_reference,
        applies=_reference_applies,
    ),
    Property(
        "decoding.one-beam-is-greedy",
        "decoding",
        "at width 1 (the declared width_option) the decoder is greedy: argmax at every step",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices()),
        check_one_beam,
        applies=_needs("declares no width_option", lambda s: s.cls.width_option is not None),
        cost=0.6,
    ),
    Property(
        "decoding.cache-consistency",
        "decoding",
        "decoding with the KV cache gives the same tokens as without it (same seed for samplers)",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices()),
        check_cache,
        applies=_needs(
            "takes no use_cache option", lambda s: "use_cache" in s.cls.accepted_options()
        ),
        cost=0.6,
    ),
    Property(
        "decoding.seeded-reproducible",
        "decoding",
        "a sampler gives the same tokens for generators seeded alike",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices()),
        check_seeded,
        applies=_is_sampler,
        cost=0.4,
    ),
    Property(
        "decoding.sampling-distribution",
        "decoding",
        "one-step samples follow softmax(z/τ) restricted to the top-k and the top-p nucleus (chi-square)",
        lambda s: strategies.decoding_inputs(options=s.cls.option_choices()),
        check_distribution,
        applies=_is_sampler,
        cost=0.4,
    ),
    Property(
        "decoding.top-p-nucleus",
        "decoding",
        "top-p samples only from the smallest set of likeliest tokens whose probability reaches p, in proportion",
        lambda s: strategies.decoding_inputs(options={"top_p": [0.3, 0.6, 0.9, 0.95]}),
        check_nucleus,
        applies=_needs(
            "takes no top_p (sampling_options)", lambda s: "top_p" in s.cls.sampling_options
        ),
        cost=0.4,
    ),
):
    register_property(_prop)
