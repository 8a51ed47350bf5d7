"""Interview topics of the area peft: LoRA's parameter count, its initialisation, merging, the
other methods side by side, and QLoRA's memory arithmetic, each measured on the suite's methods."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

import suite
from suite.errors import ComponentInputError
from suite.nn import EncoderConfig, TransformerEncoder

__all__ = [
    "TOPICS",
    "LoRAInitialisation",
    "LoRAMerging",
    "LoRAParameterCount",
    "PeftMethodsCompared",
    "QLoRAMemory",
]


class _Dense(suite.Attention):
    """softmax(q kᵀ/√d) v with masks, for the small encoders of these experiments."""

    name = "topic-dense"
    supports_bias = True

    def forward(self, q, k, v, *, causal=False, key_padding_mask=None, attn_bias=None):  # type: ignore[no-untyped-def]
        from suite import oracles

        return oracles.dense_attention(
            q,
            k,
            v,
            causal=causal,
            key_padding_mask=key_padding_mask,
            attn_bias=attn_bias,
            dtype=q.dtype,
        )


def _encoder(d_model: int, layers: int, seed: int) -> TransformerEncoder:
    torch.manual_seed(seed)
    config = EncoderConfig(
        vocab_size=32, max_len=64, d_model=d_model, n_heads=4, n_layers=layers, d_hidden=4 * d_model
    )
    return TransformerEncoder(config, _Dense).eval()


def _method(name: str, **options: object) -> suite.PEFT:
    method = suite.get("peft", name)(**options)
    assert isinstance(method, suite.PEFT)
    return method


class LoRAParameterCount(suite.Topic):
    """LoRA freezes W and learns ΔW = B A with B of shape d × r and A of shape r × d: 2·d·r
    numbers instead of d². The bet is that the update fine-tuning needs has low rank, which
    holds well in practice for r in the single or low double digits. The saving grows with d:
    the ratio is 2r/d, so the larger the model the smaller the share that trains, and Adam's
    two moments are kept for those few parameters only.

    Formula:
    full: d_in · d_out;  LoRA: r · (d_in + d_out) = 2·d·r for a square layer;  share = 2r/d.

    Pitfalls:
    - The count is per adapted layer: adapting q, k, v, o and the MLP multiplies it.
    - LoRA does not shrink activation memory: the frozen forward still runs at full width.
    - Too small an r underfits a large task shift; r above the update's real rank buys nothing.

    Follow-up questions:
    - Why does LoRA's memory saving come mostly from optimiser state and gradients?
    - Which layers would you adapt first on a limited budget?
    - What does rsLoRA change in the scaling, and why?
    """

    name = "lora-parameter-count"
    area = "peft"
    question = "How many parameters does LoRA train for a d × d layer, and why is that enough?"
    components = ("peft:lora",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        widths = ctx.pick([64, 256, 1024, 2048], [64, 256, 512])
        ranks = [4, 16]
        table, exact = [], True
        for d in widths:
            for r in ranks:
                model = nn.Sequential(nn.Linear(d, d, bias=False))
                method = _method("lora", r=r)
                wrapped = method.apply(model, ["0"])
                trainable = method.trainable_parameters(wrapped)
                exact &= trainable == 2 * d * r
                table.append(
                    {
                        "d": d,
                        "r": r,
                        "lora_params": trainable,
                        "full_params": d * d,
                        "share": trainable / (d * d),
                    }
                )
        big = table[-1]
        claims = [
            suite.Claim.of(
                "for every width and rank tried LoRA trains exactly 2·d·r parameters "
                "(d = {d}, r = {r}: {n} instead of {full})",
                holds=exact,
                d=big["d"],
                r=big["r"],
                n=big["lora_params"],
                full=big["full_params"],
            ),
            suite.Claim.of(
                "the share shrinks as 2r/d: {small:.3g} at d = {d0} and {large:.3g} at d = {d1} for r = {r}",
                holds=all(abs(row["share"] - 2 * row["r"] / row["d"]) < 1e-12 for row in table)
                and table[-1]["share"] < table[1]["share"],
                small=table[1]["share"],
                large=table[-1]["share"],
                d0=table[1]["d"],
                d1=table[-1]["d"],
                r=ranks[-1],
            ),
        ]
        series = [
            suite.Series(
                f"r = {r}",
                [float(row["d"]) for row in table if row["r"] == r],
                [row["share"] for row in table if row["r"] == r],
                "d",
                "share trained",
                plot="loglog",
            )
            for r in ranks
        ]
        return suite.Evidence(
            table=table,
            claims=claims,
            series=series,
            note="one square linear layer, counted on the wrapped module",
        )


class LoRAInitialisation(suite.Topic):
    """With B = 0 the update B A is zero, so the fine-tuned model starts exactly as the pretrained
    one. The gradient of B is (dL/dh) (A x)ᵀ, non-zero because A is random, so B moves at the
    first step; the gradient of A is Bᵀ (dL/dh) xᵀ, zero while B is zero, so A starts to move
    once B has. Both at zero would give zero gradients to both forever. A random B would
    change the model's outputs before any training, throwing away part of what it knew.

    Formula:
    h = W x + (α/r) B A x;  ∂L/∂B = (α/r) g (A x)ᵀ;  ∂L/∂A = (α/r) Bᵀ g xᵀ, with g = ∂L/∂h.

    Pitfalls:
    - Zeroing A instead of B also starts at the base model but then B gets no gradient first.
    - Initialising both at zero: no gradient ever reaches either factor.
    - peft's "gaussian" init changes A's scale, never B's zero.

    Follow-up questions:
    - What do PiSSA or LoftQ initialise instead, and why?
    - What does the α/r scaling do to the effective learning rate when r changes?
    """

    name = "lora-b-starts-at-zero"
    area = "peft"
    question = (
        "Why does LoRA start B at zero and A at random, and not the other way or both at zero?"
    )
    components = ("peft:lora",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d = ctx.pick(64, 32)
        base = _encoder(d, 1, ctx.seed)
        ids = torch.randint(0, 32, (4, 8), generator=ctx.generator(1))
        upstream = torch.randn(4, 8, d, generator=ctx.generator(2))
        rows = {}
        for label in ("B zero (LoRA)", "both zero", "B random"):
            model = copy.deepcopy(base)
            method = _method("lora", r=4)
            method.apply(model, ["blocks.0.attn.q_proj", "blocks.0.mlp.0"])
            state = method.adapter_state(model)
            with torch.no_grad():
                for name, tensor in state.items():
                    if label == "both zero":
                        tensor.zero_()
                    elif label == "B random" and name.endswith("lora_B"):
                        tensor.normal_(0.0, 0.1)
            out = model(ids)
            (out * upstream).sum().backward()
            grad_a = sum(
                float(t.grad.abs().sum()) for n, t in state.items() if n.endswith("lora_A")
            )  # type: ignore[union-attr]
            grad_b = sum(
                float(t.grad.abs().sum()) for n, t in state.items() if n.endswith("lora_B")
            )  # type: ignore[union-attr]
            with torch.no_grad():
                moved = float((out - base(ids)).abs().max())
            rows[label] = {
                "init": label,
                "output_change": moved,
                "grad_A": grad_a,
                "grad_B": grad_b,
            }
        lora, zero, rand = rows["B zero (LoRA)"], rows["both zero"], rows["B random"]
        claims = [
            suite.Claim.of(
                "with B at zero the outputs move by {m:.1e} at step zero; B's gradient is {gb:.3g} "
                "while A's is {ga:.1e}",
                holds=lora["output_change"] == 0.0 and lora["grad_B"] > 0 and lora["grad_A"] == 0.0,
                m=lora["output_change"],
                gb=lora["grad_B"],
                ga=lora["grad_A"],
            ),
            suite.Claim.of(
                "with both factors at zero both gradients are zero ({ga:.1e} and {gb:.1e}): training never starts",
                holds=zero["grad_A"] == 0.0 and zero["grad_B"] == 0.0,
                ga=zero["grad_A"],
                gb=zero["grad_B"],
            ),
            suite.Claim.of(
                "a random B changes the pretrained outputs by {m:.3g} before any training",
                holds=rand["output_change"] > 1e-3,
                m=rand["output_change"],
            ),
        ]
        return suite.Evidence(
            table=list(rows.values()),
            claims=claims,
            note=f"one-layer encoder, d = {d}, r = 4, LoRA on q_proj and the first MLP layer",
        )


class LoRAMerging(suite.Topic):
    """After training, W' = W + (α/r) B A is a plain d_out × d_in matrix: write it into the
    layer and the low-rank path disappears. The merged layer is an ordinary linear layer with
    the same outputs, so inference pays no extra matmul or latency. Unmerging subtracts the
    same product and restores W, so one base model can switch adapters. Adapters and prompts
    cannot do this: an adapter's nonlinearity and a prompt's extra tokens are not a change of
    any existing weight.

    Formula:
    merge: W ← W + (α/r) B A;  unmerge: W ← W − (α/r) B A;  merged forward = W' x + b.

    Pitfalls:
    - Merging into 4-bit or 8-bit weights loses the small update to rounding (dequantise first).
    - Merged weights serve one adapter; batches mixing adapters need them unmerged.
    - Dropout on the LoRA path has no merged equivalent: merge in eval mode.

    Follow-up questions:
    - How would you serve a hundred LoRA adapters on one base model?
    - Why is merging impossible for an adapter with a GELU inside?
    """

    name = "lora-merging"
    area = "peft"
    question = "What does merging a LoRA adapter do, and why does it make inference free?"
    components = ("peft:lora", "peft:adapter")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d = ctx.pick(64, 32)
        model = _encoder(d, 2, ctx.seed)
        method = _method("lora", r=8)
        method.apply(model)
        with torch.no_grad():
            for tensor in method.adapter_state(model).values():
                tensor.normal_(0.0, 0.05, generator=ctx.generator(3))
        ids = torch.randint(0, 32, (4, 16), generator=ctx.generator(4))
        layer = model.get_submodule("blocks.0.attn.q_proj")
        original = layer.base.weight.detach().clone()
        expected = original + layer.delta_weight().detach()
        with torch.no_grad():
            before = model(ids)
            method.merge(model)
            after = model(ids)
            folded = float((layer.base.weight - expected).abs().max())
            x = torch.randn(3, d, generator=ctx.generator(5))
            plain = nn.functional.linear(x, layer.base.weight, layer.base.bias)
            plain_gap = float((layer(x) - plain).abs().max())
            method.unmerge(model)
            restored = float((layer.base.weight - original).abs().max())
        merged_gap = float((before - after).abs().max())
        try:
            _method("adapter").merge(_encoder(d, 1, ctx.seed))
            adapter_refused = False
        except ComponentInputError:
            adapter_refused = True
        table = [
            {"check": "merged vs unmerged outputs", "max_abs_diff": merged_gap},
            {"check": "merged weight vs W + (α/r)·B·A", "max_abs_diff": folded},
            {"check": "merged layer vs plain linear with W'", "max_abs_diff": plain_gap},
            {"check": "unmerged weight vs original W", "max_abs_diff": restored},
        ]
        claims = [
            suite.Claim.of(
                "merging changes the outputs by {g:.1e} and the merged layer is a plain linear layer with W' "
                "(difference {p:.1e})",
                holds=merged_gap < 1e-4 and plain_gap == 0.0,
                g=merged_gap,
                p=plain_gap,
            ),
            suite.Claim.of(
                "the merged weight is W + (α/r)·B·A to {f:.1e}, and unmerging restores W to {r:.1e}",
                holds=folded < 1e-5 and restored < 1e-5,
                f=folded,
                r=restored,
            ),
            suite.Claim.of(
                "an adapter refuses to merge ({refused:.0f} = refused)",
                holds=adapter_refused,
                refused=float(adapter_refused),
            ),
        ]
        return suite.Evidence(
            table=table,
            claims=claims,
            note=f"two-layer encoder, d = {d}, LoRA r = 8 on every linear layer",
        )


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
    LoRAParameterCount,
    LoRAInitialisation,
    LoRAMerging,
    PeftMethodsCompared,
    QLoRAMemory,
)
