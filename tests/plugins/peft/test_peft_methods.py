"""The built-in methods: registration, LoRA's initialisation and merge against peft, the prefix
hook under a causal mask, input checks, and the benchmarks on the quick grid's smallest point."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import suite
from plugins.attention.reference import SDPAAttention
from plugins.peft.lora import LoRALinear
from suite.benchmark import RunContext
from suite.errors import ComponentInputError, OptionError
from suite.nn import EncoderConfig, TransformerEncoder

NAMES = {
    "lora",
    "adapter",
    "bitfit",
    "prefix",
    "prompt",
    "full",
    "peft-lora",
    "peft-prefix",
    "peft-prompt",
}


def _encoder(causal: bool = False) -> TransformerEncoder:
    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=13, d_model=16, n_heads=2, n_layers=2, d_hidden=32, causal=causal
    )
    return TransformerEncoder(config, SDPAAttention).eval()


def test_every_method_is_registered_with_its_reference() -> None:
    found = {cls.name: cls for cls in suite.components("peft")}
    assert set(found) >= NAMES
    assert found["lora"].reference == "peft-lora" and found["lora"].mergeable
    assert found["prefix"].reference == "peft-prefix" and found["prompt"].reference == "peft-prompt"


def test_lora_initialises_a_as_peft_and_b_at_zero() -> None:
    model = _encoder()
    suite.get("peft", "lora")(r=4).apply(model, ["blocks.0.attn.q_proj"])
    layer = model.get_submodule("blocks.0.attn.q_proj")
    assert isinstance(layer, LoRALinear)
    assert torch.count_nonzero(layer.lora_B) == 0 and layer.scaling == 16.0 / 4
    bound = 1 / math.sqrt(16)  # kaiming-uniform with a = √5 on fan_in 16: U(-1/√fan_in, 1/√fan_in)
    assert (
        float(layer.lora_A.detach().abs().max()) <= bound
        and float(layer.lora_A.detach().std()) > bound / 4
    )


def test_merged_lora_weights_equal_peft_merged_weights() -> None:
    ours, theirs = _encoder(), _encoder()
    targets = ["blocks.0.attn.q_proj", "blocks.1.mlp.2"]
    lora, ref = suite.get("peft", "lora")(), suite.get("peft", "peft-lora")()
    lora.apply(ours, targets)
    ref.apply(theirs, targets)
    state = lora.adapter_state(ours)
    with torch.no_grad():
        for tensor in state.values():
            tensor.normal_()
    ref.load_adapter_state(theirs, {k: v.detach() for k, v in state.items()})
    lora.merge(ours)
    ref.merge(theirs)
    for name in targets:
        mine = ours.get_submodule(name).base.weight
        peft_weight = theirs.get_submodule(name).base_layer.weight
        assert torch.allclose(mine, peft_weight, atol=1e-6)


def test_prefix_under_a_causal_mask_keeps_the_future_hidden() -> None:
    model = _encoder(causal=True)
    suite.get("peft", "prefix")().apply(model)
    ids = torch.randint(0, 13, (2, 6), generator=torch.Generator().manual_seed(3))
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 13
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6) and not torch.allclose(
        a[:, -1], b[:, -1]
    )


def test_prompt_output_keeps_the_sequence_length_and_sees_the_prompt() -> None:
    base = _encoder()
    model = copy.deepcopy(base)
    suite.get("peft", "prompt")(num_virtual_tokens=3).apply(model)
    ids = torch.randint(0, 13, (2, 5), generator=torch.Generator().manual_seed(4))
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        out = model(ids, mask)
    assert out.shape == (2, 5, 16) and not torch.allclose(out, base(ids, mask))


def test_unknown_and_wrong_targets_are_refused_with_the_available_ones() -> None:
    lora = suite.get("peft", "lora")()
    with pytest.raises(
        ComponentInputError, match=r"no submodule 'blocks\.7'.*'blocks\.0\.attn\.q_proj'"
    ):
        lora.apply(_encoder(), ["blocks.7"])
    with pytest.raises(ComponentInputError, match="is a LayerNorm, not a linear layer"):
        lora.apply(_encoder(), ["blocks.0.norm1"])
    with pytest.raises(ComponentInputError, match="cannot merge"):
        suite.get("peft", "adapter")().merge(_encoder())
    with pytest.raises(OptionError, match="accepts: alpha, dropout, r"):
        suite.get("peft", "lora")(rank=4)


@pytest.mark.parametrize("benchmark", ["peft-parameters", "peft-merge"])
def test_cheap_benchmarks_measure_lora_beside_its_reference(benchmark: str) -> None:
    bench = next(b for b in suite.benchmarks("peft") if b.name == benchmark)()
    point = bench.params(quick=True)[0]
    ctx = RunContext(repeats=3, warmup=1, budget_s=0.3)
    ours = bench.run(suite.get("peft", "lora"), point, ctx)
    theirs = bench.run(suite.get("peft", "peft-lora"), point, ctx)
    if benchmark == "peft-parameters":
        assert ours.metrics["trainable_params"] == theirs.metrics["trainable_params"] > 0
        assert ours.metrics["adam_state_bytes"] == 2 * 4 * ours.metrics["trainable_params"]
    else:
        assert (
            ours.metrics["merge_max_abs_diff"] < 1e-4
            and theirs.metrics["merge_max_abs_diff"] < 1e-4
        )
