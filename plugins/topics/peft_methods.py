"""Interview topics of the area peft: the methods side by side, and QLoRA's memory arithmetic."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

import suite
from plugins.topics._peft_common import _encoder, _method

__all__ = ["TOPICS", "PeftMethodsCompared", "QLoRAMemory"]


class PeftMethodsCompared(suite.Topic):
    """Prompt tuning learns P input vectors (P·d parameters) and touches nothing inside the
    model. Prefix tuning learns P keys and values in every attention layer (P·2·d per layer):
    more reach for more parameters. Adapters insert a small bottleneck MLP after the attention
    and feed-forward branches (2·d·m + m + d each). BitFit trains the biases already there.
    LoRA adds a low-rank update to chosen weight matrices (r·(d_in + d_out) each). LoRA,
    adapters and BitFit leave the outputs unchanged at initialisation; prefix and prompt
    tuning change them from the first step, since every query now attends to extra vectors.

    Formula:
    prompt P·d;  prefix P·2·d·L;  adapter (2·d·m + m + d) per branch;  BitFit Σ bias lengths;
    LoRA r·(d_in + d_out) per layer;  full: everything.

    Pitfalls:
    - Prompt and prefix tuning use up context length.
    - Adapters add sequential layers: latency at batch size one.
    - BitFit needs biases; many recent LLMs have none.

    Follow-up questions:
    - Which of these can serve several tasks in one batch?
    - Which can be merged into the weights?
    """

    name = "peft-methods-compared"
    area = "peft"
    question = (
        "Adapters, prefix tuning, prompt tuning, BitFit, LoRA: what does each train, and where?"
    )
    components = (
        "peft:prompt",
        "peft:prefix",
        "peft:adapter",
        "peft:bitfit",
        "peft:lora",
        "peft:full",
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d, layers, p, m, r = ctx.pick(64, 32), 2, 4, 8, 8
        base = _encoder(d, layers, ctx.seed)
        total = sum(t.numel() for t in base.parameters())
        biases = sum(t.numel() for n, t in base.named_parameters() if n.endswith("bias"))
        ids = torch.randint(0, 32, (2, 8), generator=ctx.generator(6))
        formulas = {
            "prompt": p * d,
            "prefix": p * 2 * d * layers,
            "adapter": 2 * layers * (2 * d * m + m + d),
            "bitfit": biases,
            "lora": r * layers * ((d + d) + (d + 2 * d) + (d + d) + (d + 4 * d) + (4 * d + d)),
            "full": total,
        }
        options = {
            "prompt": {"num_virtual_tokens": p},
            "prefix": {"num_virtual_tokens": p},
            "adapter": {"bottleneck": m},
            "lora": {"r": r},
        }
        table, counts, moved = [], {}, {}
        with torch.no_grad():
            reference = base(ids)
        for name, formula in formulas.items():
            model = copy.deepcopy(base)
            method = _method(name, **options.get(name, {}))
            wrapped = method.apply(model)
            counts[name] = method.trainable_parameters(wrapped)
            with torch.no_grad():
                moved[name] = float((wrapped(ids) - reference).abs().max())
            table.append(
                {
                    "method": name,
                    "trainable": counts[name],
                    "formula": formula,
                    "share": counts[name] / total,
                    "output_change_at_init": moved[name],
                }
            )
        claims = [
            suite.Claim.of(
                "each method's trainable count equals its formula (prompt {a}, prefix {b}, adapter {c}, BitFit {e}, "
                "LoRA {f}, full {g})",
                holds=all(counts[k] == v for k, v in formulas.items()),
                a=counts["prompt"],
                b=counts["prefix"],
                c=counts["adapter"],
                e=counts["bitfit"],
                f=counts["lora"],
                g=counts["full"],
            ),
            suite.Claim.of(
                "LoRA, adapters and BitFit leave the outputs unchanged at initialisation (at most {x:.1e}); "
                "prefix and prompt tuning move them by {y:.3g} and {z:.3g}",
                holds=max(moved["lora"], moved["adapter"], moved["bitfit"]) == 0.0
                and min(moved["prefix"], moved["prompt"]) > 1e-3,
                x=max(moved["lora"], moved["adapter"], moved["bitfit"]),
                y=moved["prefix"],
                z=moved["prompt"],
            ),
            suite.Claim.of(
                "prompt tuning trains the fewest ({a}, a share of {s:.3g}); every other method trains fewer "
                "than full fine-tuning's {g}",
                holds=counts["prompt"] == min(counts.values())
                and max(c for k, c in counts.items() if k != "full") < total,
                a=counts["prompt"],
                s=counts["prompt"] / total,
                g=total,
            ),
        ]
        return suite.Evidence(
            table=table,
            claims=claims,
            note=f"encoder d = {d}, {layers} layers, P = {p}, bottleneck {m}, r = {r}",
        )


def _nf4_pack(weight: Tensor, block: int) -> tuple[Tensor, Tensor]:
    """4-bit codes of `weight` two per byte, and one absmax per block of `block` values (float32)."""
    flat = weight.reshape(-1, block)
    absmax = flat.abs().amax(dim=1, keepdim=True)  # (N/block, 1)
    levels = torch.linspace(-1.0, 1.0, 16)
    codes = ((flat / absmax)[..., None] - levels).abs().argmin(dim=-1).to(torch.uint8).reshape(-1)
    packed = codes[0::2] | (codes[1::2] << 4)  # two 4-bit codes per byte
    return packed, absmax.squeeze(1)


def qlora_bytes(
    params: int, lora_params: int, *, block: int = 64, constant_bytes: int = 4
) -> dict[str, int]:
    """Memory of QLoRA training state: 4-bit base weights plus per-block constants, LoRA weights and
    gradients in 16 bits, Adam's two float32 moments for the LoRA parameters only."""
    return {
        "base_weights": params // 2 + (params // block) * constant_bytes,
        "lora_weights": 2 * lora_params,
        "lora_grads": 2 * lora_params,
        "adam_moments": 8 * lora_params,
    }


class QLoRAMemory(suite.Topic):
    """QLoRA stores the frozen base weights in 4 bits (NF4: sixteen levels spaced for normally
    distributed weights, scaled by one absmax constant per block of sixty-four weights) and
    trains LoRA adapters in 16 bits on top, dequantising each weight block on the fly. Memory
    is half a byte per base parameter plus the constants, and the gradients and Adam state
    exist only for the adapters. Full fine-tuning in 16 bits with Adam needs 2 bytes of weights,
    2 of gradients and 8 of moments per parameter (more with float32 master weights).

    Formula:
    base: N/2 bytes + (N/64)·c (c = 4 bytes per float32 constant, about 1/8 byte with double
    quantisation to 8 bits); adapters: (2 + 2 + 8)·N_lora bytes; full 16-bit Adam: (2 + 2 + 8)·N.

    Pitfalls:
    - Activations are not quantised: long sequences still need gradient checkpointing.
    - Quantisation error is per block: one outlier inflates its block's absmax.
    - Paged optimisers move state to CPU memory on spikes; they do not shrink it.

    Follow-up questions:
    - What does double quantisation save, per parameter?
    - Why NF4 rather than uniform 4-bit levels?
    """

    name = "qlora-memory"
    area = "peft"
    question = "How does QLoRA fit fine-tuning of a large model on one GPU?"
    components = ("peft:lora",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d, block = ctx.pick(512, 256), 64
        g = ctx.generator(7)
        weight = torch.randn(d, d, generator=g) * 0.02
        packed, absmax = _nf4_pack(weight, block)
        lora = _method("lora", r=8).apply(nn.Sequential(nn.Linear(d, d, bias=False)), ["0"])
        lora_params = sum(t.numel() for t in lora.parameters() if t.requires_grad)
        lora_tensors = [t.detach().to(torch.bfloat16) for t in lora.parameters() if t.requires_grad]
        real = {
            "base_weights": packed.numel() * packed.element_size()
            + absmax.numel() * absmax.element_size(),
            "lora_weights": sum(t.numel() * t.element_size() for t in lora_tensors),
        }
        computed = qlora_bytes(d * d, lora_params, block=block)
        bf16 = weight.to(torch.bfloat16)
        bf16_bytes = bf16.numel() * bf16.element_size()
        codes = torch.stack([packed & 15, packed >> 4], dim=1).reshape(-1, block).long()
        restored = (torch.linspace(-1.0, 1.0, 16)[codes] * absmax[:, None]).reshape(d, d)
        error = float((restored - weight).abs().mean() / weight.abs().mean())
        n7b = 7 * 10**9
        big = qlora_bytes(n7b, 40 * 10**6)
        table = [
            {
                "item": "4-bit base weights + constants",
                "calculator_bytes": computed["base_weights"],
                "real_tensor_bytes": real["base_weights"],
            },
            {
                "item": "LoRA weights (bf16)",
                "calculator_bytes": computed["lora_weights"],
                "real_tensor_bytes": real["lora_weights"],
            },
            {
                "item": "same weight in bf16",
                "calculator_bytes": 2 * d * d,
                "real_tensor_bytes": bf16_bytes,
            },
        ]
        claims = [
            suite.Claim.of(
                "the calculator matches the bytes of real tensors: {a} bytes for a {d}×{d} weight in 4 bits with "
                "per-block constants, {b} for its rank-8 LoRA in bf16",
                holds=computed["base_weights"] == real["base_weights"]
                and computed["lora_weights"] == real["lora_weights"],
                a=real["base_weights"],
                b=real["lora_weights"],
                d=d,
            ),
            suite.Claim.of(
                "4-bit storage takes {s:.3f} of the bf16 bytes, with a mean relative rounding error of {e:.3g}",
                holds=abs(real["base_weights"] / bf16_bytes - (0.25 + 4 / (block * 2))) < 1e-9
                and error < 0.25,
                s=real["base_weights"] / bf16_bytes,
                e=error,
            ),
            suite.Claim.of(
                "for a model of {n:.0e} parameters with {l:.0e} LoRA parameters, QLoRA needs {q:.1f} GB of weights "
                "and training state, 16-bit full fine-tuning with Adam {f:.1f} GB",
                holds=sum(big.values()) * 10 < 12 * n7b,
                n=float(n7b),
                l=4e7,
                q=sum(big.values()) / 1e9,
                f=12 * n7b / 1e9,
            ),
        ]
        return suite.Evidence(
            table=table,
            claims=claims,
            note=f"a {d}×{d} weight, blocks of {block}, float32 constants (no double quantisation)",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    PeftMethodsCompared,
    QLoRAMemory,
)
