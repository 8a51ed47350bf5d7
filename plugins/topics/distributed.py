"""Interview topics of the area distributed: the three parallelisms, ZeRO, the ring all-reduce.

Each experiment starts a real process group of two or three local processes (gloo on the CPU)
through `suite.distributed.launch`, so the evidence is what torch.distributed and the suite's
from-scratch ring did, not a simulation.
"""

from __future__ import annotations

import statistics

import suite
from plugins.collectives.bandwidth import bus_factor
from plugins.collectives.experiments import parallelism_job, ring_volume_job, zero_stages_job
from plugins.collectives.zero import FP32_ADAM, MIXED_PRECISION_ADAM, ZeroMemory
from plugins.collectives.zero_measure import MEASURED_BY
from suite.distributed import launch

__all__ = ["TOPICS", "DataTensorPipelineParallelism", "RingAllReduceVolume", "ZeroStages"]

FLOAT32_ATOL = 1e-5  # the split computations add partial products in another order


class DataTensorPipelineParallelism(suite.Topic):
    """Data parallelism copies the whole model to every rank and splits the batch; after the
    backward pass the ranks all-reduce their gradients, so the traffic per step grows with the
    parameter count. Tensor parallelism splits each weight matrix (Megatron: the first MLP
    layer by output rows, the second by input columns), so each rank holds 1/N of the weights
    and one all-reduce of the activations joins the partial outputs: traffic grows with
    batch × width, every layer, and needs fast links (inside a node). Pipeline parallelism
    gives each rank whole layers and passes activations point to point between stages; its
    cost is the pipeline bubble, which micro-batches shrink. All three compute what one
    process computes.

    Formula: data parallel: each rank sends 2(N−1)/N · 4Ψ bytes of fp32 gradients per step
    (ring all-reduce) and holds Ψ parameters; tensor parallel (Megatron MLP): one all-reduce
    of B·T·d activations per MLP forward, Ψ/N parameters per rank; pipeline with p stages and
    m micro-batches: bubble share (p − 1)/(m + p − 1).

    Pitfalls:
    - Data parallelism must average the gradients (or scale the loss by the local share of the
      batch), not just sum them, or the learning rate silently grows with N.
    - Tensor parallelism splits the GELU's input by hidden units, which is why the first
      layer is split by rows: splitting it by columns would need an all-reduce before the
      nonlinearity.
    - Pipeline stages must balance their compute, or the slowest stage sets the pace.

    Follow-up questions:
    - How do 3D-parallel runs combine the three (TP inside a node, PP across, DP outermost)?
    - What does sequence parallelism add to tensor parallelism?
    - How does 1F1B scheduling bound the activations a pipeline stage keeps?
    """

    name = "data-tensor-pipeline-parallelism"
    area = "distributed"
    question = "How do data, tensor and pipeline parallelism split a model, and what does each communicate?"
    components = ("collective:ring-allreduce",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d_model, d_hidden, batch = ctx.pick((64, 256, 32), (32, 64, 8))
        results = launch(
            parallelism_job,
            world_size=2,
            timeout_s=120.0,
            d_model=d_model,
            d_hidden=d_hidden,
            batch=batch,
            seed=ctx.seed,
        )
        full = results[0]["full_param_bytes"]
        table = []
        for scheme in ("data", "tensor", "pipeline"):
            rows = [r[scheme] for r in results]
            table.append(
                {
                    "scheme": scheme,
                    "max_abs_diff": max(r["max_abs_diff"] for r in rows),
                    "param_bytes_per_rank": max(r["param_bytes"] for r in rows),
                    "sent_bytes_per_rank": max(r["sent_bytes"] for r in rows),
                    "communicates": rows[0]["what"],
                }
            )
        by = {row["scheme"]: row for row in table}
        worst = max(row["max_abs_diff"] for row in table)
        gradient_formula = bus_factor("all-reduce", 2) * full  # 2(N−1)/N · 4Ψ bytes
        activation_formula = bus_factor("all-reduce", 2) * batch * d_model * 4
        shares = [by[s]["param_bytes_per_rank"] / full for s in ("tensor", "pipeline")]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "split three ways over 2 processes, the MLP computes what one process "
                    "computes: largest difference {d:.2g} (gradients for data, outputs for "
                    "tensor and pipeline parallelism)",
                    holds=worst <= FLOAT32_ATOL,
                    d=worst,
                ),
                suite.Claim.of(
                    "data parallelism keeps every parameter on every rank ({p:.0f} bytes) and "
                    "sends {s:.0f} bytes of gradients per rank, the ring's 2(N−1)/N · 4Ψ = "
                    "{f:.0f}",
                    holds=by["data"]["param_bytes_per_rank"] == full
                    and by["data"]["sent_bytes_per_rank"] == gradient_formula,
                    p=by["data"]["param_bytes_per_rank"],
                    s=by["data"]["sent_bytes_per_rank"],
                    f=gradient_formula,
                ),
                suite.Claim.of(
                    "tensor and pipeline parallelism hold {t:.3f} and {q:.3f} of the weights "
                    "per rank, and send activations: {a:.0f} bytes per tensor-parallel rank "
                    "(formula {af:.0f}: batch × width, not Ψ)",
                    holds=max(shares) <= 0.55
                    and by["tensor"]["sent_bytes_per_rank"] == activation_formula
                    and by["tensor"]["sent_bytes_per_rank"] < by["data"]["sent_bytes_per_rank"],
                    t=shares[0],
                    q=shares[1],
                    a=by["tensor"]["sent_bytes_per_rank"],
                    af=activation_formula,
                ),
            ],
            note=f"MLP {d_model}→{d_hidden}→{d_model}, batch {batch}, 2 gloo processes; bytes "
            "sent counted by the from-scratch ring (data, tensor) and the send (pipeline)",
        )


class ZeroStages(suite.Topic):
    """Training state is parameters, gradients and the optimiser's state; plain data
    parallelism keeps all of it on every rank. ZeRO shards one more part over the N ranks at
    each stage: stage 1 the optimiser state, stage 2 also the gradients (reduce-scatter instead
    of all-reduce: same traffic), stage 3 also the parameters (gathered layer by layer when
    needed: about one and a half times the traffic). With mixed-precision Adam, 16 bytes per
    parameter fall to 16/N at stage 3. FSDP's FULL_SHARD is stage 3, SHARD_GRAD_OP stage 2;
    DDP with ZeroRedundancyOptimizer is stage 1.

    Formula: mixed-precision Adam bytes per parameter P + G + O = 2 + 2 + 12; per rank:
    stage 0 (P+G+O)Ψ = 16Ψ; stage 1 (P+G)Ψ + OΨ/N = 4Ψ + 12Ψ/N; stage 2 PΨ + (G+O)Ψ/N =
    2Ψ + 14Ψ/N; stage 3 (P+G+O)Ψ/N = 16Ψ/N. fp32 Adam: 4 + 4 + 8.

    Pitfalls:
    - Activations, temporary buffers and fragmentation are not model state: the calculator
      is a floor, not the peak.
    - Stage 2 still holds full parameters from the forward to the end of the backward.
    - Optimiser sharding by whole tensors (ZeroRedundancyOptimizer) is only even when the
      tensors split evenly over the ranks.

    Follow-up questions:
    - What does ZeRO-Offload move to the CPU, and what does it cost?
    - How does FSDP overlap the parameter all-gathers with compute (prefetching)?
    - Why is stage 3's traffic about one and a half times data parallelism's?
    """

    name = "zero-stages"
    area = "distributed"
    question = "What do ZeRO stages 1, 2 and 3 shard, and how much memory does each save per GPU?"
    components = ("collective:torch-collectives",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        width, layers, world = ctx.pick((128, 4, 2), (64, 4, 2))
        results = launch(
            zero_stages_job,
            world_size=world,
            timeout_s=240.0,
            width=width,
            layers=layers,
            seed=ctx.seed,
        )
        n_params = results[0]["stages"][0]["n_params"]
        fp32 = ZeroMemory(n_params, world, FP32_ADAM)
        mixed = ZeroMemory(n_params, world, MIXED_PRECISION_ADAM)
        table, errors, measured = [], [], []
        for stage in range(4):
            per_rank = max(
                r["stages"][stage]["params"]
                + r["stages"][stage]["grads"]
                + r["stages"][stage]["optimizer"]
                for r in results
            )
            errors.append(abs(per_rank - fp32.per_rank(stage)) / fp32.per_rank(stage))
            measured.append(per_rank)
            table.append(
                {
                    "stage": stage,
                    "measured_with": MEASURED_BY[stage],
                    "measured_bytes_per_rank": per_rank,
                    "calculator_fp32_adam": fp32.per_rank(stage),
                    "calculator_mixed_precision": mixed.per_rank(stage),
                }
            )
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "the calculator (fp32 Adam, 16 bytes per parameter) matches the bytes "
                    "DDP, ZeroRedundancyOptimizer and FSDP hold per rank at every stage: "
                    "largest relative error {e:.3f}",
                    holds=max(errors) <= 0.10,
                    e=max(errors),
                ),
                suite.Claim.of(
                    "each stage saves more: {a:.0f} → {b:.0f} → {c:.0f} → {d:.0f} bytes per "
                    "rank, stage 3 holding {r:.3f} of stage 0 over {n:.0f} ranks",
                    holds=measured == sorted(measured, reverse=True)
                    and abs(measured[3] / measured[0] - 1 / world) <= 0.05,
                    a=measured[0],
                    b=measured[1],
                    c=measured[2],
                    d=measured[3],
                    r=measured[3] / measured[0],
                    n=world,
                ),
            ],
            note=f"{layers} Linear({width}, {width}) layers, Ψ = {n_params}, one Adam step on "
            f"{world} gloo processes; mixed-precision figures are the calculator's only (fp16 "
            "training is not measured on a CPU)",
        )


class RingAllReduceVolume(suite.Topic):
    """A ring all-reduce is a reduce-scatter followed by an all-gather: N−1 steps each, and in
    every step each rank sends one chunk of n/N elements to its neighbour. So each rank sends
    2(N−1)/N · n elements, under 2n however many ranks there are, while the naive way (every
    rank sending its whole tensor to every other) sends (N−1) · n. That is why the bandwidth
    term of all-reduce does not grow with N, and why nccl-tests reports bus bandwidth as
    algorithm bandwidth × 2(N−1)/N: the rate each link actually carries.

    Formula: bytes sent per rank = 2(N−1)/N · n · element size; time ≈ 2(N−1)·α +
    2(N−1)/N · n/β (α latency per step, β link bandwidth); busbw = algbw · 2(N−1)/N.

    Pitfalls:
    - The latency term grows with N: for small messages, trees or recursive doubling win.
    - Floating-point sums depend on the order of the additions, so two algorithms agree
      bitwise only where the sums are exact (small integers) or there are two ranks.
    - A length not divisible by N needs uneven chunks.

    Follow-up questions:
    - Why does NCCL use a double binary tree for small messages at large N?
    - How does a hierarchical all-reduce use fast links inside a node and slow ones across?
    - What is the all-reduce's relation to reduce-scatter and all-gather in FSDP?
    """

    name = "ring-allreduce-volume"
    area = "distributed"
    question = "Why does ring all-reduce send only 2(N−1)/N of the message per GPU, whatever N?"
    components = ("collective:ring-allreduce", "collective:torch-collectives")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        elements, rounds, world = ctx.pick((12 * 8192, 7, 4), (12 * 1024, 3, 3))
        results = launch(
            ring_volume_job,
            world_size=world,
            timeout_s=120.0,
            elements=elements,
            rounds=rounds,
            seed=ctx.seed,
        )
        table, exact, match = [], True, True
        for size in range(2, world + 1):
            rows = [g for r in results for g in r["groups"] if g["world"] == size]
            sent = max(g["sent_bytes"] for g in rows)
            message = rows[0]["message_bytes"]
            formula = bus_factor("all-reduce", size) * message
            exact = exact and all(g["exact"] for g in rows)
            match = match and all(g["sent_bytes"] == formula for g in rows)
            ring_ms = statistics.median(max(t) for t in zip(*(g["ring_s"] for g in rows))) * 1e3
            torch_ms = statistics.median(max(t) for t in zip(*(g["torch_s"] for g in rows))) * 1e3
            table.append(
                {
                    "ranks": size,
                    "sent_over_message": sent / message,
                    "formula_2(N-1)/N": bus_factor("all-reduce", size),
                    "naive_all_to_all": size - 1,
                    "ring_ms": ring_ms,
                    "torch_ms": torch_ms,
                    "ring_over_torch": statistics.median(g["ratio"] for g in rows),
                }
            )
        largest = table[-1]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "each rank of the ring sends exactly 2(N−1)/N of the message: "
                    "{a:.3f} at 2 ranks, {b:.3f} at {n:.0f} (the naive exchange: {c:.0f}×)",
                    holds=match,
                    a=table[0]["sent_over_message"],
                    b=largest["sent_over_message"],
                    n=largest["ranks"],
                    c=largest["naive_all_to_all"],
                ),
                suite.Claim.of(
                    "the ring's sums equal dist.all_reduce's bit for bit on integer-valued "
                    "tensors at every group size (2 to {n:.0f} ranks)",
                    holds=exact,
                    n=largest["ranks"],
                ),
            ],
            note=f"{elements} float32 values, sub-groups of 2 to {world} gloo processes; times "
            f"(median of {rounds} alternating rounds, slowest rank) are shown, not claimed: a "
            "Python ring on a shared CPU",
        )


TOPICS = [DataTensorPipelineParallelism, ZeroStages, RingAllReduceVolume]
