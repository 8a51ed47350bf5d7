"""Masked BatchNorm is BatchNorm over the real tokens only, so padding cannot move it."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.norms import (
    BatchNorm,
    LayerNorm,
    MaskedBatchNorm,
    RMSNorm,
    TorchBatchNorm,
    TorchLayerNorm,
    TorchRMSNorm,
)
from plugins.norms.data import lengths_to_mask, pad_to_length

ragged = st.tuples(st.integers(1, 4), st.integers(2, 8), st.integers(1, 8)).flatmap(
    lambda btc: st.tuples(
        st.just(btc),
        st.lists(st.integers(1, btc[1]), min_size=btc[0], max_size=btc[0]).filter(
            lambda lengths: sum(lengths) >= 3  # two tokens: outputs ±1, gradients rounding noise
        ),
    )
)


def _ragged_batch(
    btc: tuple[int, int, int], lengths: list[int], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    b, t, c = btc
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(c, generator=gen) * 3 + torch.randn(b, t, c, generator=gen) * 2
    mask = lengths_to_mask(torch.tensor(lengths), t)
    return x, mask


@settings(deadline=None, max_examples=40)
@given(batch=ragged, steps=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_masked_batchnorm_is_torch_batchnorm_over_real_tokens(
    batch: tuple[tuple[int, int, int], list[int]], steps: int, seed: int
) -> None:
    btc, lengths = batch
    mod, ref = MaskedBatchNorm().build(btc[2]), TorchBatchNorm().build(btc[2])
    tol = {"atol": 2e-5, "rtol": 1e-4}
    for step in range(steps):
        x, mask = _ragged_batch(btc, lengths, seed + step)
        x_mod = x.clone().requires_grad_()
        packed = x[mask].clone().requires_grad_()  # (N_real, C)
        y_mod = mod(x_mod, mask)
        y_ref = ref(packed[None])[0]  # torch BN sees the real tokens only
        torch.testing.assert_close(y_mod[mask], y_ref, **tol)
        upstream = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(step))
        (y_mod[mask] * upstream).sum().backward()
        (y_ref * upstream).sum().backward()
        torch.testing.assert_close(x_mod.grad[mask], packed.grad, atol=2e-4, rtol=1e-3)
        assert torch.count_nonzero(x_mod.grad[~mask]) == 0  # padding does not feed the statistics
    torch.testing.assert_close(mod.running_mean, ref.running_mean, **tol)
    torch.testing.assert_close(mod.running_var, ref.running_var, **tol)
    mod.eval()
    ref.eval()
    x, mask = _ragged_batch(btc, lengths, seed + 99)
    with torch.no_grad():
        torch.testing.assert_close(mod(x, mask)[mask], ref(x[mask][None])[0], **tol)


@pytest.mark.parametrize(
    "cls",
    [MaskedBatchNorm, LayerNorm, RMSNorm, TorchLayerNorm, TorchRMSNorm],
    ids=lambda cls: cls.name,
)
@settings(deadline=None, max_examples=20)
@given(
    batch=ragged,
    extra=st.integers(1, 12),
    pad_value=st.sampled_from([0.0, -5.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_real_token_outputs_do_not_change_with_padding(
    cls: type,
    batch: tuple[tuple[int, int, int], list[int]],
    extra: int,
    pad_value: float,
    seed: int,
) -> None:
    btc, lengths = batch
    x, mask = _ragged_batch(btc, lengths, seed)
    short_mod, long_mod = cls().build(btc[2]), cls().build(btc[2])
    x_short, mask_short = pad_to_length(x, mask, btc[1])
    x_long, mask_long = pad_to_length(x, mask, btc[1] + extra, pad_value=pad_value)
    with torch.no_grad():
        y_short = short_mod(x_short, mask_short)
        y_long = long_mod(x_long, mask_long)[:, : btc[1]]
    torch.testing.assert_close(y_short[mask], y_long[mask], atol=1e-6, rtol=1e-6)
    if hasattr(short_mod, "running_mean"):
        torch.testing.assert_close(
            short_mod.running_mean, long_mod.running_mean, atol=1e-6, rtol=1e-6
        )
        torch.testing.assert_close(
            short_mod.running_var, long_mod.running_var, atol=1e-6, rtol=1e-6
        )


@pytest.mark.parametrize("cls", [BatchNorm, TorchBatchNorm], ids=lambda cls: cls.name)
def test_plain_batchnorm_moves_with_padding(cls: type) -> None:
    x, mask = _ragged_batch((4, 8, 6), [8, 5, 3, 6], seed=0)
    x_short, mask_short = pad_to_length(x, mask, 8)
    x_long, mask_long = pad_to_length(x, mask, 32)
    with torch.no_grad():
        shift = (cls().build(6)(x_short, mask_short) - cls().build(6)(x_long, mask_long)[:, :8])[
            mask
        ]
    assert shift.abs().max() > 0.1


def test_masked_batchnorm_with_all_true_mask_is_plain_batchnorm() -> None:
    x, mask = _ragged_batch((3, 7, 5), [7, 7, 7], seed=3)
    with torch.no_grad():
        y_masked = MaskedBatchNorm().build(5)(x, mask)
        y_plain = BatchNorm().build(5)(x)
    torch.testing.assert_close(y_masked, y_plain, atol=0, rtol=0)
