"""The from-scratch decoders return transformers' tokens and beam scores; the kit passes them."""

from __future__ import annotations

import itertools

import pytest
import torch

from plugins.decoding import BeamSearch, Greedy, HFBeam, HFGreedy, HFSample, Sample
from plugins.decoding.data import tiny_gpt2_model
from suite.testing import check_component

SETTINGS = list(itertools.product([2, 4], [1.0, 0.0, -1.0, 2.0], [False, True, "never"]))


def _prompts(seed: int, batch: int = 3, length: int = 4, vocab: int = 32) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("eos", [None, 1])
def test_greedy_equals_transformers_generate(eos: int | None) -> None:
    for seed in range(3):
        model, ids = tiny_gpt2_model(seed, vocab_size=32), _prompts(seed)
        expected = HFGreedy().generate(model, ids, 10, eos_token_id=eos)
        assert torch.equal(Greedy().generate(model, ids, 10, eos_token_id=eos), expected)
        assert torch.equal(
            Greedy(use_cache=False).generate(model, ids, 10, eos_token_id=eos), expected
        )


@pytest.mark.parametrize(("num_beams", "length_penalty", "early_stopping"), SETTINGS)
def test_beam_equals_transformers_generate_tokens_and_scores(
    num_beams: int, length_penalty: float, early_stopping: bool | str
) -> None:
    options = {
        "num_beams": num_beams,
        "length_penalty": length_penalty,
        "early_stopping": early_stopping,
    }
    for seed, eos in ((0, None), (1, 1), (2, 3)):
        model, ids = tiny_gpt2_model(seed, vocab_size=12), _prompts(seed, vocab=12)
        mine, ref = BeamSearch(**options), HFBeam(**options)
        out = mine.generate(model, ids, 8, eos_token_id=eos)
        expected = ref.generate(model, ids, 8, eos_token_id=eos)
        assert torch.equal(out, expected), (seed, eos, out.tolist(), expected.tolist())
        assert mine.sequence_scores is not None and ref.sequence_scores is not None
        torch.testing.assert_close(mine.sequence_scores, ref.sequence_scores, atol=1e-5, rtol=1e-5)


def test_eos_finishes_rows_early_and_pads_them_with_eos() -> None:
    model, ids = tiny_gpt2_model(0, vocab_size=12), _prompts(0, vocab=12)
    first = Greedy().generate(model, ids, 1)[:, -1]
    eos = int(first[0])  # row 0 ends at once
    out = Greedy().generate(model, ids, 6, eos_token_id=eos)
    assert out[0, ids.shape[1]] == eos
    assert bool((out[0, ids.shape[1] :] == eos).all())
    beam = BeamSearch(num_beams=3)
    assert torch.equal(
        beam.generate(model, ids, 6, eos_token_id=eos),
        HFBeam(num_beams=3).generate(model, ids, 6, eos_token_id=eos),
    )


def test_seeded_sampling_is_reproducible_and_differs_across_seeds() -> None:
    model, ids = tiny_gpt2_model(0, vocab_size=32), _prompts(0)
    dec = Sample(temperature=1.5)
    a = dec.generate(model, ids, 12, generator=torch.Generator().manual_seed(1))
    b = dec.generate(model, ids, 12, generator=torch.Generator().manual_seed(1))
    c = dec.generate(model, ids, 12, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    ref = HFSample(temperature=1.5)
    assert torch.equal(
        ref.generate(model, ids, 12, generator=torch.Generator().manual_seed(1)),
        ref.generate(model, ids, 12, generator=torch.Generator().manual_seed(1)),
    )


def test_top_k_one_and_low_temperature_are_greedy() -> None:
    model, ids = tiny_gpt2_model(3, vocab_size=32), _prompts(3)
    greedy = Greedy().generate(model, ids, 8)
    assert torch.equal(
        Sample(top_k=1).generate(model, ids, 8, generator=torch.Generator().manual_seed(0)), greedy
    )
    assert torch.equal(
        Sample(top_p=1e-6).generate(model, ids, 8, generator=torch.Generator().manual_seed(0)),
        greedy,
    )


@pytest.mark.parametrize(
    "cls", [Greedy, BeamSearch, Sample, HFGreedy, HFBeam, HFSample], ids=lambda c: c.name
)
def test_the_kit_passes_every_builtin_decoder(cls: type) -> None:
    report = check_component(cls, max_examples=6, timing=False)
    problems = [f"{r.property_id}: {r.message}" for r in report.results if not r.ok]
    assert not problems, problems
    assert any(r.status == "passed" for r in report.results)
