"""The ZeRO memory calculator: bytes of model state per rank at each ZeRO stage.

Why it exists: "how much memory does training a model of Ψ parameters take per GPU, and what
does each ZeRO stage save?" (Rajbhandari et al. 2020, ZeRO: Memory Optimizations Toward
Training Trillion Parameter Models). Model state is parameters, gradients and optimiser state;
ZeRO shards them over the N data-parallel ranks one more at each stage. Activations, buffers
and fragmentation are outside it. `plugins.collectives.zero_measure` checks it against the
bytes `torch.distributed` really holds per rank.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FP32_ADAM", "MIXED_PRECISION_ADAM", "STAGES", "StateBytes", "ZeroMemory"]

STAGES: tuple[int, ...] = (0, 1, 2, 3)


@dataclass(frozen=True)
class StateBytes:
    """Bytes per parameter of each part of the model state."""

    params: int  # the weights the forward pass reads
    grads: int  # their gradients
    optimizer: int  # everything the optimiser keeps (a master copy, moments)

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer


#: Mixed-precision Adam, the paper's K = 12: fp16 weights (2) and gradients (2); fp32 master
#: weights, momentum and variance (4 + 4 + 4). 16 bytes per parameter.
MIXED_PRECISION_ADAM = StateBytes(params=2, grads=2, optimizer=12)
#: Plain fp32 Adam (what runs on a CPU): weights 4, gradients 4, two moments 4 + 4.
FP32_ADAM = StateBytes(params=4, grads=4, optimizer=8)


@dataclass(frozen=True)
class ZeroMemory:
    """Model-state bytes per rank for `n_params` (Ψ) parameters over `world_size` (N) ranks.

    Stage 0 (plain data parallelism) keeps everything on every rank; stage 1 shards the
    optimiser state, stage 2 also the gradients, stage 3 also the parameters:
    stage 0: (P + G + O)·Ψ; stage 1: (P + G)·Ψ + O·Ψ/N; stage 2: P·Ψ + (G + O)·Ψ/N;
    stage 3: (P + G + O)·Ψ/N. With mixed-precision Adam (2, 2, 12): 16Ψ, 4Ψ + 12Ψ/N,
    2Ψ + 14Ψ/N, 16Ψ/N.
    """

    n_params: int
    world_size: int
    bytes_per_param: StateBytes = MIXED_PRECISION_ADAM

    def __post_init__(self) -> None:
        if self.n_params < 0 or self.world_size < 1:
            raise ValueError(
                f"need n_params >= 0 and world_size >= 1, got {self.n_params}, {self.world_size}"
            )

    def parts(self, stage: int) -> dict[str, float]:
        """Bytes per rank of params, grads and optimizer state at `stage` (0 to 3)."""
        if stage not in STAGES:
            raise ValueError(f"ZeRO stage must be one of {STAGES}, got {stage!r}")
        psi, n, b = self.n_params, self.world_size, self.bytes_per_param
        return {
            "params": b.params * psi / (n if stage >= 3 else 1),
            "grads": b.grads * psi / (n if stage >= 2 else 1),
            "optimizer": b.optimizer * psi / (n if stage >= 1 else 1),
        }

    def per_rank(self, stage: int) -> float:
        """Total model-state bytes per rank at `stage`."""
        return sum(self.parts(stage).values())
