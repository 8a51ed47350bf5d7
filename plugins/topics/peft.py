"""Interview topics of the area peft: LoRA's parameter count, its initialisation and merging, each
measured on the suite's methods."""

from __future__ import annotations

import copy

import torch
from torch import nn

import suite
from plugins.topics._peft_common import _encoder, _method
from suite.errors import ComponentInputError

__all__ = ["TOPICS", "LoRAInitialisation", "LoRAMerging", "LoRAParameterCount"]


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


TOPICS: tuple[type[suite.Topic], ...] = (
    LoRAParameterCount,
    LoRAInitialisation,
    LoRAMerging,
)
