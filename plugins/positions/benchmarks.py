"""The position benchmarks: agreement with the reference, length extrapolation, overhead.

* `position-agreement`: is the from-scratch encoding the function HuggingFace runs? Max abs
  error of `embed` outputs, of rotated q and k, and of causal attention probabilities with the
  bias (compared after the softmax, which forgives a constant per row, as BLOOM's ALiBi needs).
* `position-extrapolation`: train a small causal model on "copy the token k back" at length
  64, then measure accuracy at 64, 128, 256 and 512. Which methods read past the training
  length?
* `position-overhead`: forward time of one attention layer with the encoding's entry points,
  measured in the same cell as the same layer with no positions (`none_ms`), and the difference.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from plugins.positions.data import CopyBackTask, PositionProbe, accuracy, train_probe
from suite import Benchmark, Measurement, RunContext
from suite.errors import SkipCell
from suite.kinds import Component, PositionModule
from suite.series import Series

__all__ = ["PositionAgreement", "PositionExtrapolation", "PositionOverhead", "causal_probs"]


def _build(cls: type[Component], d_model: int, n_heads: int, max_len: int) -> PositionModule:
    module = cls().build(d_model, n_heads, max_len)  # type: ignore[attr-defined]
    assert isinstance(module, PositionModule)
    return module


def causal_probs(module: PositionModule, q: Tensor, k: Tensor, positions: Tensor) -> Tensor:
    """Attention probabilities `(B, H, T, T)` in float64 after `rotate` and `bias`, causal."""
    q, k = module.rotate(q, k, positions, positions)
    t = q.shape[2]
    scores = (
        q.double()
        @ k.double().repeat_interleave(q.shape[1] // k.shape[1], 1).transpose(-1, -2)
        / math.sqrt(q.shape[-1])
    )
    bias = module.bias(t, t)
    if bias is not None:
        scores = scores + bias.double()
    causal = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
    return scores.masked_fill(~causal, -math.inf).softmax(dim=-1)


def _max_abs(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


class PositionAgreement(Benchmark):
    """Embeddings, rotated q/k and causal attention probabilities against the reference."""

    name = "position-agreement"
    kind = "position"
    summary = (
        "max abs error vs the reference: embed outputs, rotated q/k, causal attention probabilities"
    )
    quick_grid: ClassVar[Any] = {"seq_len": [64, 512], "dtype": ["float32"]}
    full_grid: ClassVar[Any] = {"seq_len": [64, 512, 4096], "dtype": ["float32", "bfloat16"]}
    ratio_metric = None
    d_model: ClassVar[int] = 256
    n_heads: ClassVar[int] = 8
    batch: ClassVar[int] = 2

    def applies_to(self, component_cls: type[Component]) -> bool:
        return component_cls.reference is not None

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        if ctx.reference is None:
            raise SkipCell(f"reference {component_cls.reference!r} is not registered in this run")
        t, dtype = params["seq_len"], getattr(torch, params["dtype"])
        b, d, h = self.batch, self.d_model, self.n_heads
        gen = ctx.generator(1)
        mod, ref = (_build(c, d, h, t).to(ctx.device) for c in (component_cls, ctx.reference))
        x = torch.randn(b, t, d, generator=gen).to(ctx.device, dtype)
        q = torch.randn(b, h, t, d // h, generator=gen).to(ctx.device, dtype)
        k = torch.randn(b, h // 2, t, d // h, generator=gen).to(ctx.device, dtype)
        starts = torch.tensor([0, t // 3])[:b, None]  # row 1 starts later (left padding)
        positions = (starts + torch.arange(t)).clamp(max=t - 1).to(ctx.device)
        with torch.no_grad():
            metrics = {
                "embed_max_abs_error": _max_abs(mod.embed(x, positions), ref.embed(x, positions))
            }
            (qm, km), (qr, kr) = (
                mod.rotate(q, k, positions, positions),
                ref.rotate(q, k, positions, positions),
            )
            metrics["rotate_max_abs_error"] = max(_max_abs(qm, qr), _max_abs(km, kr))
            metrics["attention_probs_max_abs_error"] = _max_abs(
                causal_probs(mod, q, k, positions), causal_probs(ref, q, k, positions)
            )
        return metrics


class PositionExtrapolation(Benchmark):
    """Accuracy of a small causal model on copy-k-back, trained at one length, tested at longer ones.

    The model (`plugins.positions.data.PositionProbe`: SDPA attention, 2 layers) is built with
    `max_len` = the longest test length, so a learned table has rows for every test position,
    but only those below the training length are ever trained. Chance is 1/vocab.
    """

    name = "position-extrapolation"
    kind = "position"
    summary = "copy-k-back accuracy at 1x, 2x, 4x, 8x the training length (64)"
    quick_grid: ClassVar[Any] = [
        {
            "train_len": 64,
            "offset": 2,
            "layers": 1,
            "steps": 80,
            "lr": 1e-2,
            "batch": 16,
            "test_lens": (64, 128, 256, 512),
        }
    ]
    full_grid: ClassVar[Any] = [
        {
            "train_len": 64,
            "offset": offset,
            "layers": 2,
            "steps": 600,
            "lr": 3e-3,
            "batch": 32,
            "test_lens": (64, 128, 256, 512),
        }
        for offset in (1, 2, 4)
    ]
    ratio_metric = None
    higher_is_better = True
    plots: ClassVar[tuple[str, ...]] = ("line",)  # accuracy against the test length
    vocab: ClassVar[int] = 16
    test_batch: ClassVar[int] = 8

    def applies_to(self, component_cls: type[Component]) -> bool:
        """Every encoding except a reference that a registered component stands for: the two
        compute the same function (`position-agreement` measures that), so train one of them."""
        import suite

        return not any(c.reference == component_cls.name for c in suite.components("position"))

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        task = CopyBackTask(vocab=self.vocab, offset=params["offset"])
        lengths = tuple(params["test_lens"])
        torch.manual_seed(ctx.seed)
        from plugins.attention.reference import SDPAAttention

        model = PositionProbe(
            component_cls,  # type: ignore[arg-type]
            SDPAAttention,
            vocab=self.vocab,
            max_len=max(lengths),
            n_layers=params["layers"],
        )
        model.to(ctx.device)
        loss = train_probe(
            model,
            task,
            steps=params["steps"],
            length=params["train_len"],
            batch_size=params["batch"],
            lr=params["lr"],
            generator=ctx.generator(2),
            device=ctx.device,
        )
        metrics = {"final_train_loss": loss, "chance_accuracy": task.chance}
        gen = ctx.generator(3)
        for length in lengths:
            metrics[f"accuracy_at_{length}"] = accuracy(
                model, task, length, batch_size=self.test_batch, generator=gen, device=ctx.device
            )
        curve = Series(
            "accuracy",
            list(lengths),
            [metrics[f"accuracy_at_{length}"] for length in lengths],
            "test length (trained at " + str(params["train_len"]) + ")",
            "copy-back accuracy",
        )
        return Measurement(metrics=metrics, series=[curve])


class PositionOverhead(Benchmark):
    """Forward time of one self-attention layer (SDPA core) with and without the encoding.

    The layer: `embed` on x, q/k/v projections, `rotate`, `bias` into SDPA's float mask, output
    projection; the same layer with identities is timed in the same cell (`none_ms`), so the
    difference is what the method adds. A bias rules out SDPA's plain causal kernel.
    """

    name = "position-overhead"
    kind = "position"
    summary = "forward ms of an attention layer with the encoding, beside the same layer without"
    quick_grid: ClassVar[Any] = {"seq_len": [128], "d_model": [128], "n_heads": [4], "batch": [2]}
    full_grid: ClassVar[Any] = {
        "seq_len": [512, 2048, 8192],
        "d_model": [1024],
        "n_heads": [16],
        "batch": [4],
    }

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        t, d, h, b = params["seq_len"], params["d_model"], params["n_heads"], params["batch"]
        gen = ctx.generator(4)
        mod = _build(component_cls, d, h, t).to(ctx.device)
        proj = torch.nn.Linear(d, 3 * d).to(ctx.device)
        out_proj = torch.nn.Linear(d, d).to(ctx.device)
        x = torch.randn(b, t, d, generator=gen).to(ctx.device)
        positions = torch.arange(t, device=ctx.device).expand(b, t)

        def layer(with_positions: bool) -> Tensor:
            y = mod.embed(x, positions) if with_positions else x
            q, k, v = proj(y).view(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
            bias = None
            if with_positions:
                q, k = mod.rotate(q, k, positions, positions)
                bias = mod.bias(t, t)
            if bias is None:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
                mask = bias.to(q.dtype).masked_fill(~causal, -math.inf)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            return out_proj(out.transpose(1, 2).reshape(b, t, d))

        with torch.no_grad():
            timing = ctx.time(lambda: layer(True))
            baseline = ctx.time(lambda: layer(False))
        return Measurement(
            metrics={
                "none_ms": baseline.median_ms,
                "overhead_ms": timing.median_ms - baseline.median_ms,
                "overhead_ratio": timing.median_ms / baseline.median_ms,
            },
            timing=timing,
        )
