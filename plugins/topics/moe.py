"""Interview topics of the area moe: load balancing, the capacity factor, active vs total size,
and where the time of a layer with the dense FFN's FLOPs goes."""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

import suite
from plugins.moe.benchmarks import throughput_floors
from plugins.moe.data import ClusterTaskConfig, make_cluster_task
from plugins.topics._kernels_common import OpTraffic
from suite.threads import single_thread
from suite.timing import time_paired

__all__ = ["ActiveVsTotalParameters", "CapacityFactor", "DispatchCost", "LoadBalancing"]


def _load_stats(counts: Tensor) -> tuple[float, float, float]:
    """Max share, coefficient of variation and normalised entropy (1 = uniform) of a load."""
    c = counts.detach().double()
    p = c / c.sum()
    nz = p[p > 0]
    entropy = float(-(nz * nz.log()).sum() / math.log(len(c)))
    return float(p.max()), float(c.std(unbiased=False) / c.mean()), entropy


class LoadBalancing(suite.Topic):
    """Without a balancing term the router collapses: the experts that win early get trained
    more, become more useful, and the router sends them even more tokens. The auxiliary loss
    of Switch/GShard penalises the product of the share of tokens each expert receives and its
    mean router probability; it is smallest when both are uniform, so adding it to the task
    loss keeps every expert in use.

    Formula: L_bal = E · Σ_i f_i · P_i, f_i = share of assignments routed to expert i (no
    gradient), P_i = mean router probability of expert i (the gradient path); uniform gives 1,
    all tokens on one expert gives E. Total loss = task + α · L_bal.

    Pitfalls:
    - f alone has no gradient (top-k is a hard choice); the product with P is what lets the
      router learn balance.
    - Too small an α does nothing against a strong collapse; too large an α forces uniform
      routing that ignores the input and hurts quality.
    - Hidden states share a common direction (a non-zero mean), which is what lets one gate
      row win for all tokens at once; zero-mean toy inputs hide the problem.
    - Measure balance on a held-out batch, not the training batch, and per layer.

    Follow-up questions:
    - What does the router z-loss add, and why does it help in bf16?
    - How do expert-choice routing or auxiliary-loss-free biases (DeepSeek-V3) balance load?
    - Why does collapse waste memory even when the loss looks fine?
    """

    name = "moe-load-balancing"
    area = "moe"
    question = "Why does a mixture of experts need a load-balancing loss?"
    components = ("moe:topk",)

    n_experts, d_model, d_hidden = 8, 16, 16
    coef = 1.0  # α on the scale of this task's MSE (Switch: 1/100 beside a cross-entropy)
    shift, offset, batch = 0.5, 1.5, 256  # input mean, target mean (both shared), tokens a step

    def _train(
        self, ctx: suite.TopicContext, balance: bool, steps: int, lr: float
    ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Load statistics before and after training, with or without the balancing loss."""
        g = ctx.generator(1)  # the same data and targets for both runs
        torch.manual_seed(ctx.seed)  # the same initial weights for both runs
        topk = suite.get("moe", "topk")(balance_coef=self.coef, z_loss_coef=0.0)
        layer = topk.build(self.d_model, self.d_hidden, self.n_experts, 1)
        teacher = nn.Sequential(nn.Linear(self.d_model, 32), nn.Tanh(), nn.Linear(32, self.d_model))
        shift = torch.randn(self.d_model, generator=g) * self.shift  # shared mean of the inputs
        offset = torch.randn(self.d_model, generator=g) * self.offset  # shared part of the targets
        test = shift + torch.randn(1, 2048, self.d_model, generator=g)
        optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
        with single_thread():
            with torch.no_grad():
                start = layer(test).expert_counts
            for _ in range(steps):
                x = shift + torch.randn(1, self.batch, self.d_model, generator=g)
                with torch.no_grad():
                    y = teacher(x) + offset
                out = layer(x)
                loss = F.mse_loss(out.output, y)
                if balance:
                    loss = loss + out.aux_loss
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                end = layer(test).expert_counts
        return _load_stats(start), _load_stats(end)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        steps, lr = ctx.pick((100, 2e-2), (40, 4e-2))
        (init, free), (_, balanced) = (self._train(ctx, b, steps, lr) for b in (False, True))
        uniform = 1 / self.n_experts
        table = [
            {"run": run, "max_share": s[0], "cv": s[1], "load_entropy": s[2]}
            for run, s in (("init", init), ("no aux loss", free), ("with aux loss", balanced))
        ]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "without the balancing loss the busiest expert's share of tokens grows "
                    "from {a:.2f} at init to {b:.2f} (uniform: {u:.3g}), load entropy {h:.2f}",
                    holds=free[0] >= 3 * uniform and free[0] > init[0] + 0.1,
                    a=init[0],
                    b=free[0],
                    u=uniform,
                    h=free[2],
                ),
                suite.Claim.of(
                    "with it (α = {c:.3g}) the busiest expert holds {m:.2f}, CV of the counts "
                    "{cv:.2f}, load entropy {h:.3f} of the maximum: near uniform",
                    holds=balanced[0] < 2 * uniform and balanced[2] > 0.93,
                    c=self.coef,
                    m=balanced[0],
                    cv=balanced[1],
                    h=balanced[2],
                ),
            ],
            note=f"top-1 MoE, E={self.n_experts}, d={self.d_model}, {steps} Adam steps of {self.batch} "
            "tokens on a regression task, load measured on 2048 held-out tokens",
        )


class CapacityFactor(suite.Topic):
    """Each expert gets a fixed buffer of capacity = ⌈cf · N · k / E⌉ slots; assignments beyond
    it are dropped (the token passes through the residual only). With cf = 1 any imbalance
    drops tokens; the dropped fraction falls as cf grows and reaches zero once cf covers the
    busiest expert, cf* = max load / mean load. The trade: a larger cf wastes padding compute
    and memory, a smaller one silently skips tokens.

    Formula: capacity C = ⌈cf · N · k / E⌉; dropped = Σ_e max(0, n_e - C) / (N · k);
    zero for cf ≥ cf* = E · max_e n_e / (N · k).

    Pitfalls:
    - A dropped token is not an error: nothing fails, its output just lacks that expert.
    - With capacity the output of one token depends on the other tokens of the batch.
    - Which tokens are dropped is a policy (first choices before second, then position).
    - An untrained router on clustered hidden states is far from uniform: cf = 1 is not safe.

    Follow-up questions:
    - Why do training and inference often use different capacity factors?
    - How do dropless MoE kernels (grouped GEMM) avoid the trade?
    - What does expert-choice routing guarantee about capacity?
    """

    name = "moe-capacity-factor"
    area = "moe"
    question = "What does the capacity factor of a mixture of experts control?"
    components = ("moe:topk",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        n_tokens, n_experts, top_k, d_model = ctx.pick(2048, 512), 8, 2, 32
        clusters = ClusterTaskConfig(d_input=d_model, n_train=n_tokens, n_test=1)
        x = make_cluster_task(clusters, ctx.generator(2)).x_train.reshape(1, n_tokens, d_model)

        def run(factor: float | None) -> suite.MoEOutput:
            torch.manual_seed(ctx.seed)  # the same router and experts at every factor
            layer = suite.get("moe", "topk")().build(d_model, 64, n_experts, top_k, factor)
            with torch.no_grad():
                return layer(x)

        with single_thread():
            counts = run(None).expert_counts
        mean_load = n_tokens * top_k / n_experts
        needed = float(counts.max()) / mean_load  # cf*, the busiest expert over the mean
        below = (float(counts.max()) - 1) / mean_load  # one slot short of cf*
        grid = sorted({0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, float(n_experts), needed, below})
        with single_thread():
            dropped = [run(cf).dropped_fraction for cf in grid]
        predicted = [
            float((counts - math.ceil(round(cf * mean_load, 6))).clamp(min=0).sum())
            / (n_tokens * top_k)
            for cf in grid
        ]
        falling = all(b <= a for a, b in pairwise(dropped))
        at = {cf: d for cf, d in zip(grid, dropped)}
        zero_from = all((d == 0) == (cf >= needed) for cf, d in zip(grid, dropped))
        exact = max(abs(d - p) for d, p in zip(dropped, predicted))
        return suite.Evidence(
            table=[
                {"capacity_factor": cf, "dropped_fraction": d, "predicted": p}
                for cf, d, p in zip(grid, dropped, predicted)
            ],
            claims=[
                suite.Claim.of(
                    "the dropped fraction falls from {a:.3f} at cf = 1/2 to {b:.3f} at cf = 1 "
                    "and {c:.3f} at cf = 2, never rising as cf grows",
                    holds=falling and at[1.0] > 0 and at[0.5] > at[1.0],
                    a=at[0.5],
                    b=at[1.0],
                    c=at[2.0],
                ),
                suite.Claim.of(
                    "nothing is dropped from cf* = {n:.3g} (busiest expert {m:.0f} slots over a "
                    "mean of {mean:.0f}) upward; one slot less drops {d:.2g}",
                    holds=zero_from and at[below] > 0,
                    n=needed,
                    m=float(counts.max()),
                    mean=mean_load,
                    d=at[below],
                ),
                suite.Claim.of(
                    "the measured fraction matches Σ max(0, n_e - C) / (N·k) from the uncapped "
                    "counts at every cf (largest gap {e:.2g})",
                    holds=exact < 1e-9,
                    e=exact,
                ),
            ],
            series=[
                suite.Series(
                    "dropped fraction", grid, dropped, "capacity factor", "dropped fraction"
                )
            ],
            note=f"untrained top-{top_k} router, E={n_experts}, {n_tokens} clustered tokens "
            "(mixture-of-clusters task), same weights at every capacity factor",
        )


class ActiveVsTotalParameters(suite.Topic):
    """A top-k MoE stores E expert FFNs but runs only k of them per token. Parameters and
    memory therefore grow with E, while the compute per token grows with k and equals that of
    one dense FFN with hidden size k · H, plus a small router term. Quote both numbers:
    Mixtral-style models are named by total size but cost like their active size.

    Formula: params = E · 2 · d · H + d · E (router); FLOPs per forward ≈ N · k · 4 · d · H +
    N · 2 · d · E; the dense FFN of hidden k · H costs N · k · 4 · d · H.

    Pitfalls:
    - Memory (weights, optimiser state) follows total parameters: all experts must be loaded.
    - Equal FLOPs is not equal time: routing, gather/scatter and small per-expert matmuls add
      overhead, and at small batch every expert's weights are read anyway.
    - Compare an MoE with the dense model of the same active size, not the same total size.

    Follow-up questions:
    - How does expert parallelism change the memory per device?
    - Why do fine-grained experts (DeepSeekMoE) raise k at the same compute?
    - When is an MoE memory-bandwidth bound at inference?
    """

    name = "moe-active-vs-total-parameters"
    area = "moe"
    question = "Does a mixture of experts with E experts cost E times a dense FFN?"
    components = ("moe:topk", "moe:dense-ffn")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        n_tokens, d, h = ctx.pick((512, 64, 128), (128, 32, 64))
        x = torch.randn(1, n_tokens, d, generator=ctx.generator())
        topk, dense = suite.get("moe", "topk")(), suite.get("moe", "dense-ffn")()

        def measure(component: suite.MoE, e: int, k: int) -> tuple[int, int]:
            layer = component.build(d, h, e, k)
            with single_thread(), torch.no_grad(), FlopCounterMode(display=False) as counter:
                layer(x)
            return sum(p.numel() for p in layer.parameters()), counter.get_total_flops()

        experts, ks = [4, 8, 16, 32], [1, 2, 4]
        by_e = {e: measure(topk, e, 2) for e in experts}
        by_k = {k: measure(topk, 8, k) for k in ks}
        dense_k = {k: measure(dense, 8, k) for k in ks}
        table = [{"E": e, "k": 2, "params": p, "flops": f} for e, (p, f) in by_e.items()]
        table += [{"E": 8, "k": k, "params": p, "flops": f} for k, (p, f) in by_k.items()]
        table += [{"E": "dense", "k": k, "params": p, "flops": f} for k, (p, f) in dense_k.items()]
        param_growth = by_e[32][0] / by_e[4][0]
        flop_growth_e = by_e[32][1] / by_e[4][1]
        flop_growth_k = by_k[4][1] / by_k[1][1]
        same_params = len({p for p, _ in by_k.values()}) == 1
        formula = all(
            f == n_tokens * k * 4 * d * h + n_tokens * 2 * d * e
            for e, k, f in [(e, 2, by_e[e][1]) for e in experts] + [(8, k, by_k[k][1]) for k in ks]
        )
        vs_dense = max(by_k[k][1] / dense_k[k][1] for k in ks)
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "8x the experts (E = 4 to 32) stores {p:.3g}x the parameters but costs "
                    "only {f:.3g}x the FLOPs (the router)",
                    holds=abs(param_growth - 8) < 0.01 and flop_growth_e < 1.15,
                    p=param_growth,
                    f=flop_growth_e,
                ),
                suite.Claim.of(
                    "k = 1 to 4 at E = 8 multiplies the FLOPs by {f:.3g} with the parameter "
                    "count unchanged",
                    holds=same_params and 3.5 < flop_growth_k <= 4,
                    f=flop_growth_k,
                ),
                suite.Claim.of(
                    "the counted FLOPs equal N·k·4·d·H + N·2·d·E at every E and k; the MoE "
                    "costs at most {r:.3g}x the dense FFN of hidden k·H",
                    holds=formula and vs_dense < 1.1,
                    r=vs_dense,
                ),
            ],
            series=[
                suite.Series(
                    "params vs E", experts, [by_e[e][0] for e in experts], "experts E", "params"
                ),
                suite.Series("FLOPs vs k", ks, [by_k[k][1] for k in ks], "top-k", "FLOPs"),
            ],
            note=f"{n_tokens} tokens, d={d}, expert hidden H={h}, FLOPs counted by torch's "
            "FlopCounterMode on one forward pass",
        )


class DispatchCost(suite.Topic):
    """Equal FLOPs is not equal work. The dense FFN is three large kernels: a matmul, the
    activation, a matmul. The top-k layer runs the same expert arithmetic as many small
    matmuls, and around them the routing: the router (a matmul to E logits, softmax, top-k,
    renormalisation), the dispatch (sort the N·k assignments by expert, count them, copy every
    token's row into expert order, and scatter-add the results back, weighted), and the
    auxiliary losses. Each step is small, but they are dozens of kernel launches and extra
    passes over N·k·d floats, and the E experts' weights are read on every call where the
    dense layer reads one FFN's. So the layer's time splits into the expert matmuls (with the
    tokens split evenly: the price of small matmuls and of more weights), the least routing a
    sort-based layer must run, and the bookkeeping of this implementation; the first two
    composed in one call are the least any such layer costs.

    Formula: FLOPs(topk) = N·k·4·d·H + 2·N·d·E against N·k·4·d·H for the dense FFN of hidden
    k·H; extra traffic ≈ 2 · N·k·d · itemsize (gather and scatter) plus E/k times the weight
    bytes; time(layer) ≈ time(experts, split evenly) + time(routing) + bookkeeping.

    Pitfalls:
    - Counting FLOPs predicts the dense FFN's time, not the MoE's: count the kernels and the
      bytes too.
    - Timing only the expert matmuls, or the layer against a dense model of its total size,
      hides the routing.
    - Time with weights drawn as the layer draws them (variance 1/fan-in): plain
      `torch.randn` weights make the pre-activations √fan-in times too large, and the tanh
      GELU (and exp) run slower on large inputs, so the benchmark times another activation
      cost than the layer pays.
    - Reading the expert sizes back to the host (`counts.tolist()`) stalls a GPU pipeline
      once per layer; a capacity factor fixes the sizes and removes that sync.

    Follow-up questions:
    - What does a grouped GEMM (one kernel over all experts' slices) save over a loop of
      matmuls, and over padding every expert to the busiest?
    - Why does expert parallelism add two all-to-alls, and when do they dominate?
    - At what batch size does an MoE layer become bound by reading its weights?
    """

    name = "moe-dispatch-cost"
    area = "moe"
    question = (
        "A top-k mixture of experts does the FLOPs of the dense FFN of its active size: why "
        "is it slower, and where does the time go?"
    )
    components = ("moe:topk", "moe:dense-ffn")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        n_tokens, d, h = ctx.pick((512, 256, 512), (128, 64, 128))
        n_experts, top_k = 8, 2
        torch.manual_seed(ctx.seed)
        layers = {
            name: suite.get("moe", name)().build(d, h, n_experts, top_k).eval()
            for name in ("topk", "dense-ffn")
        }
        x = torch.randn(4, n_tokens // 4, d, generator=ctx.generator())
        floors = throughput_floors(
            n_tokens, d, h, n_experts, top_k, dtype=x.dtype, device=x.device, seed=ctx.seed
        )
        calls = {
            "topk": lambda: layers["topk"](x).output,
            "dense-ffn": lambda: layers["dense-ffn"](x).output,
            "experts alone, split evenly": floors["even_experts_ratio"],
            "routing alone, least": floors["least_routing_ratio"],
            "both in one call, least": floors["least_layer_ratio"],
        }
        rows: list[dict[str, Any]] = []
        with torch.inference_mode():
            for name, call in calls.items():
                with FlopCounterMode(display=False) as flops, OpTraffic() as traffic:
                    call()
                rows.append(
                    {
                        "work": name,
                        "aten_ops": len(traffic.ops),
                        "flops": flops.get_total_flops(),
                        "bytes_moved": sum(r + w for _, r, w, _ in traffic.ops),
                    }
                )
            with single_thread():
                for row, call in zip(rows, calls.values()):
                    paired = time_paired(call, calls["dense-ffn"], budget_s=1.0, seed=ctx.seed)
                    row["time_vs_dense"] = paired.ratio
        layer, dense, experts, routing, least = rows
        flop_ratio = layer["flops"] / dense["flops"]
        extra = layer["flops"] - dense["flops"] - 2 * n_tokens * d * n_experts
        padding_rows, remainder = divmod(extra, 4 * d * h)  # rows computed beyond the N·k real ones
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "the top-{k} layer counts {f:.4g}x the dense FFN's FLOPs: the router's "
                    "2·N·d·E more, and {p} padding rows beside the N·k = {m} real ones in the "
                    "expert matmuls",
                    holds=remainder == 0 and 0 <= padding_rows <= 0.1 * n_tokens * top_k,
                    k=top_k,
                    f=flop_ratio,
                    p=padding_rows,
                    m=n_tokens * top_k,
                ),
                suite.Claim.of(
                    "but it dispatches {m} ATen ops to the dense FFN's {n} and moves {b:.3g}x "
                    "its bytes (E/k times the weights, the token rows copied to and from "
                    "expert order)",
                    holds=layer["aten_ops"] >= 10 * dense["aten_ops"]
                    and layer["bytes_moved"] > 2 * dense["bytes_moved"],
                    m=layer["aten_ops"],
                    n=dense["aten_ops"],
                    b=layer["bytes_moved"] / dense["bytes_moved"],
                ),
                suite.Claim.of(
                    "it takes {r:.3g}x the dense FFN's time; its expert matmuls alone, tokens "
                    "split evenly, take {e:.3g}x, the least routing alone {q:.3g}x, and the "
                    "two in one call {s:.3g}x: the layer costs more than its expert arithmetic, "
                    "and even the least layer does (measured now, one thread)",
                    holds=layer["time_vs_dense"] > max(1.0, experts["time_vs_dense"])
                    and least["time_vs_dense"] > experts["time_vs_dense"],
                    r=layer["time_vs_dense"],
                    e=experts["time_vs_dense"],
                    q=routing["time_vs_dense"],
                    s=least["time_vs_dense"],
                ),
            ],
            note=f"{n_tokens} tokens, d={d}, expert hidden H={h}, E={n_experts}, k={top_k}, "
            "float32; FLOPs by torch's FlopCounterMode, ATen ops and the bytes of their tensor "
            "arguments by a dispatch mode, time in alternating rounds against the dense FFN",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    LoadBalancing,
    CapacityFactor,
    ActiveVsTotalParameters,
    DispatchCost,
)
