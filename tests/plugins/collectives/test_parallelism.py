"""Tensor parallelism and ZeRO on real processes: Megatron layers equal one nn.Linear; the ZeRO
calculator equals the bytes DDP, ZeroRedundancyOptimizer and FSDP hold per rank."""

from __future__ import annotations

import pytest

from plugins.collectives.reference import TorchCollectives
from plugins.collectives.ring import RingAllReduce
from plugins.collectives.tensor_parallel import tensor_parallel_job
from plugins.collectives.zero import FP32_ADAM, ZeroMemory
from plugins.collectives.zero_measure import zero_memory_job
from suite.distributed import ClassRef, launch

FLOAT32_ATOL = 1e-5  # a row-parallel sum adds the partial products in another order


@pytest.mark.parametrize(
    "component", [RingAllReduce, pytest.param(TorchCollectives, marks=pytest.mark.slow)]
)
def test_column_and_row_parallel_layers_equal_one_linear(component: type) -> None:
    results = launch(
        tensor_parallel_job,
        world_size=2,
        timeout_s=120,
        component=ClassRef.of(component),
        in_features=64,
        out_features=96,
        batch=16,
        seed=0,
    )
    for result in results:
        for layer in ("column", "row"):
            diffs = result[layer]
            for what in ("output", "input_grad", "weight_grad", "bias_grad"):
                assert diffs[what] <= FLOAT32_ATOL, (result["rank"], layer, what, diffs[what])
            assert diffs["local_weights"] * 2 == diffs["full_weights"]  # half the weights each


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_zero_calculator_matches_sharded_bytes_within_ten_percent(stage: int, world: int) -> None:
    results = launch(
        zero_memory_job, world_size=world, timeout_s=300, stage=stage, width=64, layers=4, seed=0
    )
    if any("unsupported" in r for r in results):
        pytest.skip(next(r["unsupported"] for r in results if "unsupported" in r))
    predicted = ZeroMemory(results[0]["n_params"], world, FP32_ADAM).parts(stage)
    for result in results:
        for part, expected in predicted.items():
            assert result[part] == pytest.approx(expected, rel=0.10), (stage, part, result)
