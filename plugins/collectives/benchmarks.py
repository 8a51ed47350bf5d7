"""Benchmarks of the collective kind: agreement, bandwidth, tensor parallelism, ZeRO memory.

Every cell launches its own process group (`suite.distributed`: N local processes,
gloo on CPU, NCCL on CUDA) and reads back plain numbers; a rank that fails or hangs becomes
the cell's error row.

* `collective-agreement`: each op a component declares against `torch.distributed`'s, on
  lengths that do and do not divide by N: bitwise on integer-valued tensors, and on random
  floats within 2(N−1)·eps·Σ|x| (a sum's rounding depends on the order of the additions; with
  two ranks there is one addition, so it is exact too).
* `collective-bandwidth`: time per call (each after a barrier; per round the slowest rank;
  the median over rounds), algorithm and bus bandwidth as nccl-tests defines them
  (`plugins.collectives.bandwidth`); a component is timed in alternating rounds with its
  reference in the same processes (`paired_ratio`), after its result is checked to equal it.
* `collective-tensor-parallel`: Megatron column- and row-parallel linear layers, their
  communication through the component, against one `nn.Linear`: outputs and gradients.
* `collective-zero-memory`: the ZeRO calculator against the per-rank bytes of a small model
  under DDP, ZeroRedundancyOptimizer and FSDP (`plugins.collectives.zero_measure`).
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

import torch

from plugins.collectives.bandwidth import BUS_FACTORS, algorithm_bandwidth, bus_factor
from plugins.collectives.jobs import bandwidth_job
from plugins.collectives.tensor_parallel import tensor_parallel_job
from plugins.collectives.zero import FP32_ADAM, MIXED_PRECISION_ADAM, ZeroMemory
from plugins.collectives.zero_measure import zero_memory_job
from suite.benchmark import Benchmark, Measurement, RunContext
from suite.distributed import ClassRef, launch
from suite.errors import CellError, SkipCell
from suite.kinds import Component
from suite.noise import bootstrap_median_interval
from suite.testing.properties.collective import agreement_job
from suite.timing import PairedTiming, Timing

__all__ = [
    "AGREEMENT_LENGTHS",
    "CollectiveAgreement",
    "CollectiveBandwidth",
    "CollectiveTensorParallel",
    "CollectiveZeroMemory",
    "device_for",
]

KIB, MIB = 1 << 10, 1 << 20
#: Lengths checked for agreement: tiny (fewer elements than ranks), not divisible by 2 or 3, larger.
AGREEMENT_LENGTHS: tuple[int, ...] = (1, 2, 3, 5, 64, 1000, 1001, 4099)


def device_for(ctx: RunContext, world_size: int) -> str:
    """ "cuda" (one GPU per rank) or "cpu"; a skip when there are fewer GPUs than ranks."""
    if ctx.device.type != "cuda":
        return "cpu"
    if torch.cuda.device_count() < world_size:
        raise SkipCell(
            f"{world_size} ranks need {world_size} GPUs, this machine has {torch.cuda.device_count()}"
        )
    return "cuda"


def _ops(component_cls: type[Component]) -> tuple[str, ...]:
    return tuple(getattr(component_cls, "ops", ()))


class CollectiveAgreement(Benchmark):
    name: ClassVar[str] = "collective-agreement"
    kind: ClassVar[str] = "collective"
    summary: ClassVar[str] = (
        "each declared op against torch.distributed: bitwise on integer-valued tensors, within "
        "2(N−1)·eps·Σ|x| on random floats, lengths that do and do not divide by N"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"world_size": [2, 3]}
    full_grid: ClassVar[dict[str, list[Any]]] = {"world_size": [2, 3, 4]}
    ratio_metric: ClassVar[str | None] = None

    def applies_to(self, component_cls: type[Component]) -> bool:
        return not component_cls.is_reference()

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        if ctx.reference is None:
            raise SkipCell(f"{component_cls.name} has no registered reference to agree with")
        world = params["world_size"]
        ops = [op for op in _ops(component_cls) if op in _ops(ctx.reference)]
        results = launch(
            agreement_job,
            world_size=world,
            device=device_for(ctx, world),
            timeout_s=120.0,
            component=ClassRef.of(component_cls),
            reference=ClassRef.of(ctx.reference),
            ops=ops,
            lengths=list(AGREEMENT_LENGTHS),
            seed=ctx.seed,
        )
        rows = [row for result in results for row in result["rows"]]
        integer = [row for row in rows if row["integer"]]
        floats = [row for row in rows if not row["integer"]]
        metrics: dict[str, float] = {
            "ops_checked": len(ops),
            "integer_exact_fraction": sum(r["exact"] for r in integer) / len(integer),
            "float_exact_fraction": sum(r["exact"] for r in floats) / len(floats),
            "float_within_bound_fraction": sum(r["within_bound"] for r in floats) / len(floats),
            "float_max_abs_diff": max(r["max_abs_diff"] for r in floats),
        }
        largest = [
            r for r in integer if r["op"] == "all-reduce" and r["length"] == max(AGREEMENT_LENGTHS)
        ]
        if largest and all(r["bytes_sent"] is not None for r in largest):
            n_bytes = largest[0]["length"] * 4
            metrics["allreduce_sent_over_size"] = max(r["bytes_sent"] for r in largest) / n_bytes
            metrics["allreduce_sent_formula"] = bus_factor("all-reduce", world)
        return Measurement(metrics=metrics)


class CollectiveBandwidth(Benchmark):
    name: ClassVar[str] = "collective-bandwidth"
    kind: ClassVar[str] = "collective"
    summary: ClassVar[str] = (
        "time, algbw = S/t and busbw = algbw × factor (nccl-tests: all-reduce 2(N−1)/N, "
        "all-gather and reduce-scatter (N−1)/N, broadcast 1) over message sizes; "
        "paired_ratio = time(component) / time(reference) in alternating rounds"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {
        "op": list(BUS_FACTORS),
        "size_bytes": [KIB, MIB, 16 * MIB],
        "world_size": [2],
    }
    full_grid: ClassVar[dict[str, list[Any]]] = {
        "op": list(BUS_FACTORS),
        "size_bytes": [KIB * 4**k for k in range(9)],  # 1 KiB, 4 KiB, ..., 64 MiB
        "world_size": [2, 4],
    }
    ratio_metric: ClassVar[str | None] = "median_ms"
    plots: ClassVar[tuple[str, ...]] = ("metric:busbw_gb_per_s", "ratio")

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        op, size, world = params["op"], params["size_bytes"], params["world_size"]
        if op not in _ops(component_cls):
            raise SkipCell(f"{component_cls.name} does not implement {op}")
        reference = ctx.reference if ctx.reference and op in _ops(ctx.reference) else None
        results = launch(
            bandwidth_job,
            world_size=world,
            device=device_for(ctx, world),
            timeout_s=120.0 + 4 * ctx.budget_s,
            component=ClassRef.of(component_cls),
            reference=None if reference is None else ClassRef.of(reference),
            op=op,
            size_bytes=size,
            warmup=1,
            rounds=ctx.repeats,
            budget_s=ctx.budget_s,
            seed=ctx.seed,
        )
        # a round lasts as long as its slowest rank
        ours = [max(times) * 1e3 for times in zip(*(r["seconds"] for r in results))]
        timing = Timing.from_samples(ours)
        metrics: dict[str, float] = {
            "algbw_gb_per_s": algorithm_bandwidth(size, timing.median_ms / 1e3),
            "busbw_gb_per_s": algorithm_bandwidth(size, timing.median_ms / 1e3)
            * bus_factor(op, world),
            "bus_factor": bus_factor(op, world),
        }
        if reference is not None:
            theirs = [max(t) * 1e3 for t in zip(*(r["reference_seconds"] for r in results))]
            paired = _paired(ours, theirs, ctx.seed)
            timing = paired.timing
            metrics.update(paired.metrics())
            metrics["reference_busbw_gb_per_s"] = algorithm_bandwidth(
                size, statistics.median(theirs) / 1e3
            ) * bus_factor(op, world)
        sent = [r["bytes_sent"] for r in results]
        if all(s is not None for s in sent):
            elements = results[0]["elements"]
            metrics["sent_bytes_per_rank"] = max(sent)
            metrics["sent_over_input"] = max(sent) / (elements * 4)
        return Measurement(metrics=metrics, timing=timing)


def _paired(ours_ms: list[float], theirs_ms: list[float], seed: int) -> PairedTiming:
    ratios = [a / b for a, b in zip(ours_ms, theirs_ms) if b > 0]
    if not ratios:
        raise CellError("the reference's rounds took no measurable time")
    low, high = bootstrap_median_interval(ratios, seed=seed)
    return PairedTiming(
        a=Timing.from_samples(ours_ms),
        b=Timing.from_samples(theirs_ms),
        ratio=statistics.median(ratios),
        ci_low=low,
        ci_high=high,
        rounds=len(ratios),
    )


class CollectiveTensorParallel(Benchmark):
    name: ClassVar[str] = "collective-tensor-parallel"
    kind: ClassVar[str] = "collective"
    summary: ClassVar[str] = (
        "Megatron column- and row-parallel linear layers, communicating through the component, "
        "against one nn.Linear: largest output and gradient differences, weights per rank"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"world_size": [2]}
    full_grid: ClassVar[dict[str, list[Any]]] = {"world_size": [2, 4]}
    ratio_metric: ClassVar[str | None] = None

    def applies_to(self, component_cls: type[Component]) -> bool:
        return {"all-reduce", "all-gather"} <= set(_ops(component_cls))

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        world = params["world_size"]
        results = launch(
            tensor_parallel_job,
            world_size=world,
            device=device_for(ctx, world),
            timeout_s=120.0,
            component=ClassRef.of(component_cls),
            in_features=64,
            out_features=96,
            batch=16,
            seed=ctx.seed,
        )
        metrics: dict[str, float] = {}
        for layer in ("column", "row"):
            for what in ("output", "input_grad", "weight_grad", "bias_grad"):
                metrics[f"{layer}_{what}_max_abs_diff"] = max(r[layer][what] for r in results)
            first = results[0][layer]
            metrics[f"{layer}_weights_per_rank_fraction"] = (
                first["local_weights"] / first["full_weights"]
            )
        return Measurement(metrics=metrics)


class CollectiveZeroMemory(Benchmark):
    name: ClassVar[str] = "collective-zero-memory"
    kind: ClassVar[str] = "collective"
    summary: ClassVar[str] = (
        "ZeRO calculator (fp32 Adam: 4 + 4 + 8 bytes per parameter) against the per-rank bytes "
        "of parameters, gradients and Adam state after one step under DDP (stage 0), "
        "ZeroRedundancyOptimizer (1), FSDP SHARD_GRAD_OP (2), FSDP2 fully_shard (3)"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"stage": [0, 1, 2, 3], "world_size": [2]}
    full_grid: ClassVar[dict[str, list[Any]]] = {"stage": [0, 1, 2, 3], "world_size": [2, 4]}
    ratio_metric: ClassVar[str | None] = None

    def applies_to(self, component_cls: type[Component]) -> bool:
        # the measurement uses torch.distributed's own sharding, so it runs once, on the reference
        return component_cls.is_reference()

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        stage, world = params["stage"], params["world_size"]
        results = launch(
            zero_memory_job,
            world_size=world,
            device=device_for(ctx, world),
            timeout_s=180.0,
            stage=stage,
            width=64,
            layers=4,
            seed=ctx.seed,
        )
        unsupported = [r["unsupported"] for r in results if "unsupported" in r]
        if unsupported:
            raise SkipCell(f"stage {stage} could not run here: {unsupported[0]}")
        n_params = results[0]["n_params"]
        predicted = ZeroMemory(n_params, world, FP32_ADAM)
        metrics: dict[str, float] = {"n_params": n_params}
        for part, expected in predicted.parts(stage).items():
            metrics[f"measured_{part}_bytes"] = max(r[part] for r in results)
            metrics[f"predicted_{part}_bytes"] = expected
        measured = max(r["params"] + r["grads"] + r["optimizer"] for r in results)
        metrics["measured_bytes_per_rank"] = measured
        metrics["predicted_bytes_per_rank"] = predicted.per_rank(stage)
        metrics["relative_error"] = abs(measured - predicted.per_rank(stage)) / predicted.per_rank(
            stage
        )
        metrics["mixed_precision_predicted_bytes_per_rank"] = ZeroMemory(
            n_params, world, MIXED_PRECISION_ADAM
        ).per_rank(stage)
        return Measurement(metrics=metrics)
