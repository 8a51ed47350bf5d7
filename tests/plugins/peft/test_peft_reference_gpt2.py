"""What HuggingFace peft itself computes for prefix and prompt tuning, on a tiny random GPT-2.

peft drives these methods only through a `PeftModel` around a transformers model, so the
suite's `peft-prefix` and `peft-prompt` take peft's parameters and feed them into `suite.nn`
themselves. These tests pin down the arithmetic they rely on, with peft doing the work:
peft's prefix-tuned output equals the base model given the prefix as its key/value cache in
the `(P, L·2·H·Dh)` layout `plugins.peft.common.split_prefix` reads; peft's prompt-tuned output
equals the base model given `[prompt; token embeddings]`; peft's trainable counts are the
formulas the suite's methods declare (P·L·2·d and P·d). Nothing is downloaded.
"""

from __future__ import annotations

import copy

import pytest
import torch

from plugins.attention.reference import SDPAAttention
from plugins.peft.common import split_prefix
from plugins.peft.prefix import PrefixTuning
from plugins.peft.prompt import PromptTuning
from suite.nn import EncoderConfig, TransformerEncoder

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

P, LAYERS, HEADS, WIDTH = 3, 2, 2, 16


@pytest.fixture(scope="module")
def gpt2() -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=50,
        n_positions=64,
        n_embd=WIDTH,
        n_layer=LAYERS,
        n_head=HEADS,
        attn_pdrop=0.0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config).eval()


def _suite_encoder() -> TransformerEncoder:
    config = EncoderConfig(
        vocab_size=50, d_model=WIDTH, n_heads=HEADS, n_layers=LAYERS, d_hidden=4 * WIDTH
    )
    return TransformerEncoder(config, SDPAAttention)


def test_peft_prefix_is_the_base_model_with_the_prefix_as_its_cache(gpt2: torch.nn.Module) -> None:
    model = peft.get_peft_model(
        copy.deepcopy(gpt2), peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P)
    ).eval()
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tuned = model(input_ids=ids).logits
        weight = model.prompt_encoder["default"].embedding.weight  # (P, L·2·d)
        cache = transformers.DynamicCache(config=gpt2.config)
        flat = weight.unsqueeze(0).expand(2, *weight.shape)
        for layer, (k, v) in enumerate(split_prefix(flat, LAYERS, HEADS, WIDTH // HEADS)):
            cache.update(k, v, layer)
        by_hand = gpt2(
            input_ids=ids, past_key_values=cache, attention_mask=torch.ones(2, P + 5)
        ).logits
    assert torch.allclose(tuned, by_hand, atol=1e-6)
    trainable, _ = model.get_nb_trainable_parameters()
    assert trainable == weight.numel() == P * LAYERS * 2 * WIDTH
    suite_model = _suite_encoder()
    method = PrefixTuning(num_virtual_tokens=P)
    assert method.expected_trainable(suite_model, method.default_targets(suite_model)) == trainable


def test_peft_prompt_is_the_base_model_on_prompt_then_token_embeddings(
    gpt2: torch.nn.Module,
) -> None:
    model = peft.get_peft_model(
        copy.deepcopy(gpt2), peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P)
    ).eval()
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        tuned = model(input_ids=ids).logits  # (B, P + T, V)
        prompt = model.prompt_encoder["default"].embedding.weight  # (P, d)
        embeds = torch.cat(
            [prompt.unsqueeze(0).expand(2, -1, -1), gpt2.transformer.wte(ids)], dim=1
        )
        by_hand = gpt2(inputs_embeds=embeds).logits
    assert torch.allclose(tuned, by_hand, atol=1e-6)
    trainable, _ = model.get_nb_trainable_parameters()
    assert trainable == P * WIDTH
    suite_model = _suite_encoder()
    method = PromptTuning(num_virtual_tokens=P)
    assert method.expected_trainable(suite_model, method.default_targets(suite_model)) == trainable
