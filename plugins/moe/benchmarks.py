"""Benchmarks of the moe kind: speed at equal active size, load balance, token dropping, accuracy.

* `moe-throughput`: tokens/s of one forward pass, beside `dense-ffn` of the same active size.
  A routed layer is timed in alternating rounds with its reference in the same cell
  (`ctx.time_paired`): `paired_ratio` is the median over rounds of time(layer) / time(dense),
  with a bootstrap interval, and the table's ratio column shows it. It survives a busy machine
  better than dividing the medians of two cells timed seconds apart, which differ by the load
  that changed between them. The layer's output is checked for NaN/inf before it is timed. In
  the full grid the same layer built with `compile=True` is timed against the dense layer in the
  same cell too (`compiled_paired_ratio`, `compile_time_s`), after its output equals the eager
  layer's; the quick grid leaves it out, as routing's data-dependent shapes split the layer into
  several graphs that take minutes to compile on a CPU. A routed layer's cell also times three
  floors against the dense layer, each in alternating rounds:
  - `even_experts_ratio`: the expert matmuls alone, tokens split evenly, `E` matrices of
    `N·k/E` rows in one batched matmul, no router, no gather. The gap from 1 is the price of
    small matmuls and of reading E experts' weights instead of one FFN's;
  - `least_routing_ratio`: the routing alone, reduced to what any sort-based top-k layer runs
    around its expert matmuls (router matmul, softmax, top-k, sort by expert, gather of the
    token rows, weighted scatter-add back), no auxiliary losses, no padding;
  - `least_layer_ratio`: the two composed in one forward (`least_layer`): the routing, with
    the batched expert matmuls run on its sorted rows cut into E equal slices. It is the least
    an eager sort-based top-k layer costs here: a real one has uneven counts, auxiliary losses
    and a capacity to honour on top. It reads about the sum of the other two.
  The rest of `paired_ratio` is what this layer spends beyond `least_layer_ratio`; where that
  floor is already at a target, an eager sort-based layer will not get under it on that
  machine. The floors draw weights as the layers do (variance 1/fan-in, so the
  pre-activations have unit variance): the tanh GELU's cost depends on the magnitude of its
  input (on a CPU it is slower on large inputs), so unscaled random weights would time
  another GELU than the layers run.
* `moe-load-balance`: coefficient of variation of `expert_counts` after a short training run on
  the mixture-of-clusters task, with and without the layer's `aux_loss` added to the task loss.
* `moe-capacity`: share of token-expert assignments dropped at each capacity factor, and how much
  the output changes against the same layer without capacity.
* `moe-cluster-accuracy`: accuracy and macro F1 on the mixture-of-clusters task, beside the dense
  layer; for routed layers also how purely each expert serves one cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

import torch
from torch import nn

from plugins.moe.data import (
    ClusterTaskConfig,
    TrainConfig,
    evaluate,
    make_cluster_task,
    train_classifier,
)
from plugins.moe.reference import expert_activation
from suite.benchmark import Benchmark, Measurement, RunContext, check_output
from suite.compiled import compile_unavailable_reason, compiled_paired_metrics
from suite.kinds import Component, MoE
from suite.metrics import classification_report
from suite.series import Series

__all__ = [
    "MoECapacity",
    "MoEClusterAccuracy",
    "MoELoadBalance",
    "MoEThroughput",
    "coefficient_of_variation",
    "least_layer",
    "least_routing",
    "throughput_floors",
]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def coefficient_of_variation(counts: torch.Tensor) -> float:
    """std / mean of the per-expert counts (population std); 0 is perfect balance."""
    values = counts.detach().double()
    mean = values.mean()
    return float(values.std(unbiased=False) / mean) if mean > 0 else 0.0


def _build(
    component_cls: type[Component],
    *dims: int,
    capacity_factor: float | None = None,
    compile: bool = False,
) -> nn.Module:
    options = {"compile": True} if compile else {}
    moe_cls = cast("type[MoE]", component_cls)
    return moe_cls(**options).build(*dims, capacity_factor=capacity_factor)


def _routes(component_cls: type[Component]) -> bool:
    # the moe reference (dense-ffn) routes nothing: balance and capacity do not apply to it
    return component_cls.kind == "moe" and not component_cls.is_reference()


class MoEThroughput(Benchmark):
    name: ClassVar[str] = "moe-throughput"
    kind: ClassVar[str] = "moe"
    summary: ClassVar[str] = (
        "forward tokens/s at equal active size (top_k*d_hidden) as dense-ffn; "
        "paired_ratio = median of time(layer) / time(dense) over alternating rounds of one cell, "
        "steadier than the ratio of the two cells' medians"
    )
    _base: ClassVar[dict[str, Any]] = {
        "top_k": 2,
        "d_model": 256,
        "d_hidden": 512,
        "dtype": "float32",
    }
    quick_grid: ClassVar[list[dict[str, Any]]] = [
        {"tokens": 2048, "n_experts": 8, **_base},
        {"tokens": 512, "n_experts": 8, **_base},
        {"tokens": 2048, "n_experts": 32, **_base},
    ]
    full_grid: ClassVar[dict[str, list[Any]]] = {
        "tokens": [2048, 8192, 32768],
        "n_experts": [8, 64],
        "top_k": [2],
        "d_model": [1024],
        "d_hidden": [2048],
        "dtype": ["float32", "bfloat16"],
    }
    ratio_metric: ClassVar[str | None] = "median_ms"

    def compiles(self, params: dict[str, Any], ctx: RunContext) -> bool:
        """Whether the cell also times the compiled layer: the full grid only (see above)."""
        return not ctx.quick

    def input_warnings(self, params: dict[str, Any], ctx: RunContext) -> list[str]:
        reason = compile_unavailable_reason(ctx.device) if self.compiles(params, ctx) else None
        return [f"{self.name}: no compiled_paired_ratio ({reason})"] if reason else []

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        tokens, d_model = params["tokens"], params["d_model"]
        dims = (d_model, params["d_hidden"], params["n_experts"], params["top_k"])
        dtype = _DTYPES[params["dtype"]]
        torch.manual_seed(ctx.seed)
        layer = _build(component_cls, *dims).to(ctx.device, dtype).eval()
        x = torch.randn(4, tokens // 4, d_model, generator=ctx.generator()).to(ctx.device, dtype)
        paired_metrics: dict[str, float] = {}
        with torch.inference_mode():
            check_output(layer(x).output, what="the layer's output")
            if ctx.reference is None:
                timing = ctx.time(lambda: layer(x))
            else:
                dense = _build(ctx.reference, *dims).to(ctx.device, dtype).eval()
                check_output(dense(x).output, what="the reference's output")
                paired = ctx.time_paired(lambda: layer(x), lambda: dense(x))
                timing, paired_metrics = paired.timing, paired.metrics()
                if _routes(component_cls):
                    floors = throughput_floors(
                        tokens, *dims, dtype=dtype, device=ctx.device, seed=ctx.seed
                    )
                    for metric, floor in floors.items():
                        paired_metrics[metric] = ctx.time_paired(floor, lambda: dense(x)).ratio
                if self.compiles(params, ctx) and compile_unavailable_reason(ctx.device) is None:
                    torch.manual_seed(ctx.seed)  # the eager layer's weights
                    compiled = _build(component_cls, *dims, compile=True)
                    compiled = compiled.to(ctx.device, dtype).eval()
                    expected = layer(x).output
                    tolerance = 1e-3 if dtype == torch.float32 else 1e-1

                    def agrees(y: Any) -> None:
                        check_output(
                            y.output,
                            expected,
                            what="the compiled output",
                            rtol=tolerance,
                            atol=tolerance,
                        )

                    paired_metrics.update(
                        compiled_paired_metrics(ctx, lambda: compiled(x), lambda: dense(x), agrees)
                    )
        metrics = {
            "tokens_per_s": tokens / (timing.median_ms / 1e3),
            "total_params": sum(p.numel() for p in layer.parameters()),
            **paired_metrics,
        }
        return Measurement(metrics=metrics, timing=timing)


def throughput_floors(
    tokens: int,
    d_model: int,
    d_hidden: int,
    n_experts: int,
    top_k: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    seed: int,
) -> dict[str, Callable[[], torch.Tensor]]:
    """The two halves of a top-k layer's work, each alone, and the two composed (see the module
    docstring), on random data and weights drawn as the layers draw theirs (only the time
    counts):

    * `even_experts_ratio`: `E` experts of `⌈N·k/E⌉` rows each, `activation(x @ W_in) @ W_out`
      as two batched matmuls;
    * `least_routing_ratio`: router, softmax, top-k, sort, gather and weighted scatter-add of
      the `N·k` assignments, the gathered rows standing in for the experts' outputs;
    * `least_layer_ratio`: the same routing with those batched matmuls where the stand-in was
      (`least_layer`), in one call.
    """
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape: int, fan_in: int = 1) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * fan_in**-0.5).to(device, dtype)

    rows = -(-tokens * top_k // n_experts)
    xs = draw(n_experts, rows, d_model)
    w_in = draw(n_experts, d_model, d_hidden, fan_in=d_model)
    w_out = draw(n_experts, d_hidden, d_model, fan_in=d_hidden)
    x, gate = draw(tokens, d_model), draw(n_experts, d_model, fan_in=d_model)

    return {
        "even_experts_ratio": lambda: _expert_ffns(xs, w_in, w_out),
        "least_routing_ratio": lambda: least_routing(x, gate, top_k),
        "least_layer_ratio": lambda: least_layer(x, gate, w_in, w_out, top_k),
    }


def least_routing(x: torch.Tensor, gate: torch.Tensor, top_k: int) -> torch.Tensor:
    """The routing of a sort-based top-k layer and nothing else, `x` `(N, C)`, `gate` `(E, C)`:
    the gathered token rows stand in for the experts' outputs, so it returns each token's row
    weighted by the sum of its top-k router probabilities."""
    token, weight = _sorted_assignments(x, gate, top_k)
    rows = x.index_select(0, token)  # (N·k, C) gathered: what the experts would read
    rows.mul_(weight.unsqueeze(-1).to(x.dtype))  # ... and what they return
    return torch.zeros_like(x).index_add_(0, token, rows)


def least_layer(
    x: torch.Tensor, gate: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor, top_k: int
) -> torch.Tensor:
    """`least_routing` with the expert FFNs where its stand-in was: the least a sort-based top-k
    layer costs, as one forward. `x` `(N, C)`, `gate` `(E, C)`, `w_in` `(E, C, H)`, `w_out`
    `(E, H, C)`.

    The sorted assignments are cut into `E` equal slices of `⌈N·k/E⌉` rows (the last padded
    with token 0 at weight 0) and slice e runs through expert e: the work of a layer whose
    router happened to split the tokens evenly, with none of a real layer's extras (uneven
    counts, auxiliary losses, capacity). Which expert a row meets is therefore its place in
    the sort, not its router's choice, except when the counts are even: a timing floor, not a
    layer.
    """
    token, weight = _sorted_assignments(x, gate, top_k)
    n_experts, rows = w_in.shape[0], -(-token.numel() // w_in.shape[0])
    padding = n_experts * rows - token.numel()
    if padding:
        token = torch.cat([token, token.new_zeros(padding)])
        weight = torch.cat([weight, weight.new_zeros(padding)])
    xs = x.index_select(0, token).view(n_experts, rows, -1)  # (E, rows, C)
    ys = _expert_ffns(xs, w_in, w_out).flatten(0, 1)  # (E·rows, C)
    ys.mul_(weight.unsqueeze(-1).to(ys.dtype))
    return torch.zeros_like(x).index_add_(0, token, ys)


def _expert_ffns(xs: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
    """`activation(xs[e] @ w_in[e]) @ w_out[e]` for every expert e, as two batched matmuls:
    `xs` `(E, rows, C)` -> `(E, rows, C)`."""
    return torch.bmm(expert_activation(torch.bmm(xs, w_in)), w_out)


def _sorted_assignments(
    x: torch.Tensor, gate: torch.Tensor, top_k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Router, softmax and top-k of `x` `(N, C)`, the `N·k` assignments sorted by expert:
    `(token, weight)`, each `(N·k,)`."""
    dtype = torch.promote_types(x.dtype, torch.float32)  # as the router: float32 at least
    probs = torch.nn.functional.linear(x.to(dtype), gate.to(dtype)).softmax(dim=-1)  # (N, E)
    weight, expert = probs.topk(top_k, dim=-1)  # (N, k)
    order = expert.flatten().argsort()  # (N·k,) the assignments grouped by expert
    return order // top_k, weight.flatten()[order]


class MoELoadBalance(Benchmark):
    name: ClassVar[str] = "moe-load-balance"
    kind: ClassVar[str] = "moe"
    summary: ClassVar[str] = (
        "CV of expert_counts after a short training run, with and without aux_loss"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"balance_loss": [True, False]}
    full_grid: ClassVar[dict[str, list[Any]]] = {
        "balance_loss": [True, False],
        "n_experts": [8, 16],
        "steps": [600],
    }
    ratio_metric: ClassVar[str | None] = None
    plots: ClassVar[tuple[str, ...]] = ("bars",)  # tokens per expert, with and without aux_loss

    def applies_to(self, component_cls: type[Component]) -> bool:
        return _routes(component_cls)

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        task_config = ClusterTaskConfig()
        task = make_cluster_task(task_config, ctx.generator(1))
        config = TrainConfig(
            n_experts=params.get("n_experts", 8),
            steps=params.get("steps", 150),
            use_aux_loss=params["balance_loss"],
        )
        model = train_classifier(
            cast("type[MoE]", component_cls),
            task,
            config,
            n_classes=task_config.n_classes,
            device=ctx.device,
            seed=ctx.seed,
        )
        _, routed = evaluate(model, task.x_test.to(ctx.device))
        counts = routed.expert_counts.detach().double().cpu()
        load = Series(
            "tokens per expert",
            range(len(counts)),
            counts.tolist(),
            x_label="expert",
            y_label="held-out tokens routed",
            plot="bars",
        )
        metrics = {
            "expert_counts_cv": coefficient_of_variation(counts),
            "max_expert_share": float(counts.max() / counts.sum()),
            "idle_experts": int((counts == 0).sum()),
        }
        return Measurement(metrics=metrics, series=[load])


class MoECapacity(Benchmark):
    name: ClassVar[str] = "moe-capacity"
    kind: ClassVar[str] = "moe"
    summary: ClassVar[str] = (
        "dropped fraction and output change over capacity factors (clustered tokens)"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"capacity_factor": [0.5, 1.0, 1.25, 2.0, None]}
    full_grid: ClassVar[dict[str, list[Any]]] = {
        "capacity_factor": [0.5, 1.0, 1.25, 1.5, 2.0, 4.0, None],
        "n_experts": [8, 64],
    }
    ratio_metric: ClassVar[str | None] = None

    def applies_to(self, component_cls: type[Component]) -> bool:
        return _routes(component_cls)

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        capacity_factor = params["capacity_factor"]
        n_experts, top_k, d_model = params.get("n_experts", 8), 2, 64
        tokens = params.get("tokens", 2048)
        # clustered tokens, as real hidden states are: an untrained router loads experts unevenly
        clusters = ClusterTaskConfig(d_input=d_model, n_train=tokens, n_test=1)
        task = make_cluster_task(clusters, ctx.generator(2))
        x = task.x_train.reshape(4, tokens // 4, d_model).to(ctx.device)
        layers = []
        for factor in (capacity_factor, None):
            torch.manual_seed(ctx.seed)  # same weights with and without capacity
            layer = _build(component_cls, d_model, 128, n_experts, top_k, capacity_factor=factor)
            layers.append(layer.to(ctx.device))
        with torch.inference_mode():
            capped, free = layers[0](x), layers[1](x)
            change = (capped.output - free.output).norm() / free.output.norm()
            timing = ctx.time(lambda: layers[0](x))
        counts = capped.expert_counts.detach().double().cpu()
        return Measurement(
            metrics={
                "dropped_fraction": float(capped.dropped_fraction),
                "max_expert_load": int(counts.max()),
                "output_rel_change": float(change),
                "expert_counts_cv": coefficient_of_variation(counts),
            },
            timing=timing,
        )


class MoEClusterAccuracy(Benchmark):
    name: ClassVar[str] = "moe-cluster-accuracy"
    kind: ClassVar[str] = "moe"
    summary: ClassVar[str] = (
        "accuracy / macro F1 on a mixture-of-clusters task where experts can specialise"
    )
    quick_grid: ClassVar[dict[str, list[Any]]] = {"n_clusters": [8]}
    full_grid: ClassVar[dict[str, list[Any]]] = {"n_clusters": [4, 8, 16], "steps": [600]}
    ratio_metric: ClassVar[str | None] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    plots: ClassVar[tuple[str, ...]] = ("ratio", "line")  # accuracy, then the training loss

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        task_config = ClusterTaskConfig(n_clusters=params["n_clusters"])
        task = make_cluster_task(task_config, ctx.generator(3))
        config = TrainConfig(steps=params.get("steps", 150))
        losses: list[float] = []
        model = train_classifier(
            cast("type[MoE]", component_cls),
            task,
            config,
            n_classes=task_config.n_classes,
            device=ctx.device,
            seed=ctx.seed,
            loss_curve=losses,
        )
        x_test = task.x_test.to(ctx.device)
        logits, _ = evaluate(model, x_test)
        report = classification_report(task.y_test, logits.cpu(), num_classes=task_config.n_classes)
        metrics = {"accuracy": report["accuracy"], "f1_macro": report["f1_macro"]}
        if _routes(component_cls):
            metrics["expert_cluster_purity"] = _purity(
                model, x_test, task.cluster_test, task_config.n_clusters
            )
        curve = Series(
            "training loss",
            range(1, len(losses) + 1),
            losses,
            x_label="step",
            y_label="cross-entropy (batch)",
        )
        return Measurement(metrics=metrics, series=[curve])


def _purity(model: Any, x: torch.Tensor, cluster: torch.Tensor, n_clusters: int) -> float:
    """Share of routed assignments that go to an expert's majority cluster (1.0 = fully specialised)."""
    rows = []
    for c in range(n_clusters):
        members = x[cluster.to(x.device) == c]
        if len(members):
            rows.append(evaluate(model, members)[1].expert_counts.detach().double().cpu())
    table = torch.stack(rows)  # (clusters present, E)
    return float(table.max(dim=0).values.sum() / table.sum()) if table.sum() > 0 else 0.0
