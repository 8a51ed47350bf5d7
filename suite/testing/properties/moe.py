"""Properties of mixture-of-experts layers: the output contract and the routing invariants.

Counts: `expert_counts` sums to the kept token-expert assignments, N·top_k·(1 - dropped), and
never exceeds the capacity ⌈capacity_factor · N · top_k / n_experts⌉. Without a capacity
factor nothing is dropped: each token's output is what it gets when routed alone. Routing is
per token, so permuting tokens permutes outputs and keeps the counts. Gradients are finite and
the load-balancing loss reaches the parameters. Output comparisons run in eval mode, so a
router that adds noise while training (noisy top-k) is compared deterministically.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    PropertySkip,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import call_component, generator, max_abs_diff, randn

__all__: list[str] = []

ATOL, RTOL = 1e-5, 1e-4


def _build(subject: Subject, ex: Example) -> nn.Module:
    args = (ex["d_model"], ex["d_hidden"], ex["n_experts"], ex["top_k"])
    what = f"{subject.cls.__name__}().build({', '.join(map(str, args))}, capacity_factor={ex['capacity_factor']})"
    with torch.random.fork_rng():
        torch.manual_seed(ex["seed"])
        mod = call_component(
            what, lambda: subject.cls().build(*args, capacity_factor=ex["capacity_factor"])
        )
    if not isinstance(mod, nn.Module):
        fail(f"build() returned {type(mod).__name__}, not an nn.Module")
    return mod


def _x(ex: Example, offset: int = 0) -> Tensor:
    return randn((ex["batch"], ex["length"], ex["d_model"]), ex["seed"], 100 + offset)  # (B, T, C)


def _forward(mod: nn.Module, x: Tensor, ex: Example) -> Any:
    out = call_component(f"mod(x {tuple(x.shape)})", mod, x)
    for attribute in ("output", "aux_loss", "expert_counts", "dropped_fraction"):
        if not hasattr(out, attribute):
            fail(f"the layer must return a MoEOutput; {type(out).__name__} has no `{attribute}`")
    if not isinstance(out.output, Tensor) or out.output.shape != x.shape:
        fail(
            f"output must be shaped like x {tuple(x.shape)}, got {getattr(out.output, 'shape', None)}"
        )
    counts = torch.as_tensor(out.expert_counts)
    if tuple(counts.shape) != (ex["n_experts"],):
        fail(
            f"expert_counts must have shape (n_experts,) = ({ex['n_experts']},), got {tuple(counts.shape)}"
        )
    return out


def _routes_nothing(subject: Subject, out: Any) -> bool:
    """A reference dense layer (reference None) reports zero counts: it has no routing to check."""
    return (
        subject.cls.reference is None
        and float(torch.as_tensor(out.expert_counts).abs().sum()) == 0.0
    )


def _assignments(ex: Example) -> int:
    return ex["batch"] * ex["length"] * ex["top_k"]


# --------------------------------------------------------------------------- checks


def check_contract(subject: Subject, ex: Example) -> None:
    mod = _build(subject, ex)
    out = _forward(mod, _x(ex), ex)
    if not torch.isfinite(out.output).all():
        fail("output has NaN/inf values")
    aux = torch.as_tensor(out.aux_loss)
    if aux.dim() != 0 or not torch.isfinite(aux):
        fail(
            f"aux_loss must be a finite scalar, got shape {tuple(aux.shape)} value {aux.flatten()[:3].tolist()}"
        )
    dropped = float(out.dropped_fraction)
    if not 0.0 <= dropped <= 1.0:
        fail(f"dropped_fraction must lie in [0, 1], got {dropped}")


def check_counts(subject: Subject, ex: Example) -> None:
    mod = _build(subject, ex)
    out = _forward(mod, _x(ex), ex)
    counts = torch.as_tensor(out.expert_counts).double()
    if _routes_nothing(subject, out):
        raise PropertySkip(
            f"{subject.cls.name} is a dense reference layer: it routes nothing (expert_counts all zero)"
        )
    if (counts < 0).any() or not torch.equal(counts, counts.round()):
        fail(f"expert_counts must be non-negative whole numbers, got {counts.tolist()}")
    total, dropped = _assignments(ex), float(out.dropped_fraction)
    kept = round(total * (1 - dropped))
    if abs(counts.sum().item() - kept) > 0.5:
        fail(
            f"expert_counts sum to {counts.sum().item():g}, but N·top_k·(1 - dropped_fraction) = {total}·(1 - {dropped:.3g}) = {kept}"
        )
    factor = ex["capacity_factor"]
    if factor is not None:
        capacity = math.ceil(factor * total / ex["n_experts"])
        if counts.max() > capacity:
            e = int(counts.argmax())
            fail(
                f"expert {e} got {counts[e].item():g} assignments, above its capacity ⌈{factor}·{total}/{ex['n_experts']}⌉ = {capacity}"
            )


def check_no_drop(subject: Subject, ex: Example) -> None:
    mod = _build(subject, ex)
    mod.eval()
    x = _x(ex)
    with torch.no_grad():
        out = _forward(mod, x, ex)
        total = _assignments(ex)
        if float(out.dropped_fraction) != 0.0:
            fail(
                f"capacity_factor=None but dropped_fraction = {float(out.dropped_fraction):.3g}: without a capacity no token may be dropped"
            )
        counted = torch.as_tensor(out.expert_counts).sum().item()
        if abs(counted - total) > 0.5 and not _routes_nothing(subject, out):
            fail(
                f"capacity_factor=None but expert_counts sum to {counted:g}, not N·top_k = {total}"
            )
        flat = x.reshape(-1, 1, x.shape[-1])  # (N, 1, C): every token on its own
        for n in range(flat.shape[0]):
            alone = _forward(mod, flat[n : n + 1], {**ex, "batch": 1, "length": 1}).output[0, 0]
            together = out.output.reshape(-1, x.shape[-1])[n]
            if not torch.allclose(alone, together, atol=ATOL, rtol=RTOL):
                fail(
                    f"capacity_factor=None, yet token {n} of {flat.shape[0]} comes out different in the batch than alone (by {max_abs_diff(alone, together):.3g}): it was dropped or mixed with other tokens"
                )


def check_permutation(subject: Subject, ex: Example) -> None:
    mod = _build(subject, ex)
    mod.eval()
    x = _x(ex)
    b, t, c = x.shape
    perm = torch.randperm(b * t, generator=generator(ex["seed"], 3))
    with torch.no_grad():
        out = _forward(mod, x, ex)
        shuffled = _forward(mod, x.reshape(-1, c)[perm].reshape(b, t, c), ex)
    expected = out.output.reshape(-1, c)[perm]
    got = shuffled.output.reshape(-1, c)
    if not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
        n = int((got - expected).abs().amax(-1).argmax())
        fail(
            f"permuting the tokens did not permute the outputs: token {int(perm[n])} (moved to {n}) changed by {max_abs_diff(got[n], expected[n]):.3g}"
        )
    before, after = torch.as_tensor(out.expert_counts), torch.as_tensor(shuffled.expert_counts)
    if not torch.equal(before.double(), after.double()):
        fail(
            f"permuting the tokens changed expert_counts from {before.tolist()} to {after.tolist()}"
        )


def check_gradients(subject: Subject, ex: Example) -> None:
    mod = _build(subject, ex)
    mod.train()
    x = _x(ex).requires_grad_(True)
    out = _forward(mod, x, ex)
    params = [p for p in mod.parameters() if p.requires_grad]
    aux = torch.as_tensor(out.aux_loss)
    aux_value = float(aux.detach())
    balancing = (
        ex["n_experts"] > 1 and aux_value != 0.0 and bool(params)
    )  # one expert: nothing to balance
    if balancing and aux.requires_grad:
        grads = torch.autograd.grad(aux, params, retain_graph=True, allow_unused=True)
        if all(g is None for g in grads):
            fail(
                f"aux_loss = {aux_value:.3g} with {ex['n_experts']} experts, but no parameter gets a gradient from it: the load-balancing loss must reach the router"
            )
    elif balancing:
        fail(
            f"aux_loss = {aux_value:.3g} is detached from the graph: the load-balancing loss cannot train the router"
        )
    objective = out.output.pow(2).mean() + aux
    call_component("backward()", objective.backward)
    if x.grad is None or not torch.isfinite(x.grad).all():
        fail("the gradient with respect to x is missing or has NaN/inf values")
    if float(out.dropped_fraction) == 0.0 and float(x.grad.abs().sum()) == 0.0:
        fail("no token was dropped, yet the gradient with respect to x is zero")
    for name, p in mod.named_parameters():
        if p.grad is not None and not torch.isfinite(p.grad).all():
            fail(f"the gradient of parameter {name!r} has NaN/inf values")


for _prop in (
    Property(
        "moe.output-contract",
        "moe",
        "returns a MoEOutput: output (B, T, C) finite, aux_loss a finite scalar, expert_counts (E,), dropped_fraction in [0, 1]",
        lambda s: strategies.moe_inputs(),
        check_contract,
    ),
    Property(
        "moe.routing-counts",
        "moe",
        "expert_counts sum to N·top_k·(1 - dropped_fraction) and respect the capacity ⌈factor·N·top_k/E⌉",
        lambda s: strategies.moe_inputs(),
        check_counts,
    ),
    Property(
        "moe.no-drop-without-capacity",
        "moe",
        "with capacity_factor=None no token is dropped: each token's output is what it gets alone",
        lambda s: strategies.moe_inputs(capacity=False),
        check_no_drop,
    ),
    Property(
        "moe.permutation-equivariance",
        "moe",
        "permuting the tokens permutes the outputs and keeps the expert counts (no capacity)",
        lambda s: strategies.moe_inputs(capacity=False),
        check_permutation,
    ),
    Property(
        "moe.gradients",
        "moe",
        "gradients are finite, reach x, and the load-balancing aux_loss reaches the parameters",
        lambda s: strategies.moe_inputs(),
        check_gradients,
    ),
):
    register_property(_prop)
