"""Interview topics of the area optimisation: vanishing gradients, clipping, initialisation."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import suite
from suite.threads import single_thread

__all__ = ["TOPICS", "GradientClipping", "VanishingExplodingGradients", "WeightInitialisation"]


def _xavier(w: Tensor, g: torch.Generator) -> None:
    nn.init.xavier_normal_(w, generator=g)


def _kaiming(scale: float) -> Callable[[Tensor, torch.Generator], None]:
    def init(w: Tensor, g: torch.Generator) -> None:
        nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g).mul_(scale)

    return init


#: name: (weight init, activation, residual). Each layer is h ← φ(W h), or h ← h + W φ(h).
_DEEP_NETS: dict[str, tuple[Callable[[Tensor, torch.Generator], None], Callable, bool]] = {
    "sigmoid": (_xavier, torch.sigmoid, False),
    "relu": (_kaiming(1.0), torch.relu, False),
    "relu-2x-init": (_kaiming(2.0), torch.relu, False),
    "residual-sigmoid": (_xavier, torch.sigmoid, True),
}


def _first_layer_grad(depth: int, width: int, kind: str, g: torch.Generator) -> float:
    """|∂L/∂W_1| in a fresh MLP of `depth` square layers at initialisation, L = mean output sum."""
    init, act, residual = _DEEP_NETS[kind]
    weights = [torch.empty(width, width) for _ in range(depth)]
    for w in weights:
        init(w, g)
        w.requires_grad_(True)
    h = torch.randn(64, width, generator=g)
    for w in weights:
        h = h + act(h) @ w.T if residual else act(h @ w.T)
    (first,) = torch.autograd.grad(h.sum(1).mean(), [weights[0]])
    return first.norm().item()


def _typical_first_layer_grad(depth: int, kind: str, nets: int, g: torch.Generator) -> float:
    """Geometric mean of `_first_layer_grad` over `nets` width-64 networks (norms are log-normal)."""
    logs = [math.log(_first_layer_grad(depth, 64, kind, g)) for _ in range(nets)]
    return math.exp(sum(logs) / nets)


class VanishingExplodingGradients(suite.Topic):
    """Backpropagation multiplies, layer after layer, by the weight matrix and by the derivative of
    the activation. The sigmoid's derivative is at most 1/4, so with weights of unit gain the
    signal reaching the first layer shrinks by a constant factor per layer: exponentially in
    depth. Weights that are too large make the same product grow exponentially instead. ReLU
    (derivative one where active) with Kaiming initialisation keeps the per-layer factor near
    one, and residual connections add an identity path, y = x + f(x), whose Jacobian I + f′
    carries the gradient back unchanged whatever f does.

    Formula:
    ∂L/∂h_1 = (Π_l Wₗᵀ diag(φ′(zₗ))) ∂L/∂h_L, so |∂L/∂h_1| scales like (gain · E|φ′|)^L
    sigmoid: σ′(z) = σ(z)(1 - σ(z)) ≤ 1/4, equality at z = 0
    residual: ∂h_(l+1)/∂h_l = I + ∂f/∂h_l

    Pitfalls:
    - Vanishing gradients look like a training plateau, not an error: check per-layer gradient
      norms.
    - ReLU fixes the activation factor but not the weight factor: the init must match it.
    - Exploding gradients show up as NaN losses; clipping hides them, initialisation and
      normalisation remove the cause.
    - RNNs unroll the same matrix over time, so its largest singular value decides everything.

    Follow-up questions:
    - Why does an LSTM's cell state help with vanishing gradients?
    - What does Pre-LN change for gradient flow in a deep Transformer?
    - How do you tell a vanishing gradient from a learning rate that is too small?
    """

    name = "vanishing-exploding-gradients"
    area = "optimisation"
    question = "Why do gradients vanish or explode in deep networks, and what fixes it?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        z = torch.linspace(-8, 8, 1601, requires_grad=True)
        torch.sigmoid(z).sum().backward()
        assert z.grad is not None
        peak, at = z.grad.max().item(), z[z.grad.argmax()].item()
        depths, nets = ctx.pick((2, 5, 10, 20, 30), (2, 5, 10, 20)), ctx.pick(4, 3)
        kinds = tuple(_DEEP_NETS)
        with single_thread():
            grads = {k: [_typical_first_layer_grad(d, k, nets, g) for d in depths] for k in kinds}
        deep, mid = depths[-1], depths[2]

        def per_layer(kind: str) -> float:
            return (grads[kind][-1] / grads[kind][2]) ** (1 / (deep - mid))

        def spread(kind: str) -> float:
            return max(grads[kind]) / min(grads[kind])

        table = [{"depth": d, **{k: grads[k][i] for k in kinds}} for i, d in enumerate(depths)]
        claims = [
            suite.Claim.of(
                "on a grid of {n} points σ′ peaks at {p:.6f} at z = {z:.3g}, never above 1/4",
                holds=peak <= 0.25 + 1e-7 and peak > 0.2499 and abs(at) < 0.02,
                n=z.numel(),
                p=peak,
                z=at,
            ),
            suite.Claim.of(
                "sigmoid MLP (Xavier): |∇W₁| falls from {a:.3g} at depth 2 to {b:.2e} at depth "
                "{d}, a factor {f:.3g} per layer",
                holds=grads["sigmoid"][-1] < 1e-4 * grads["sigmoid"][0]
                and per_layer("sigmoid") < 0.5,
                a=grads["sigmoid"][0],
                b=grads["sigmoid"][-1],
                d=deep,
                f=per_layer("sigmoid"),
            ),
            suite.Claim.of(
                "ReLU with Kaiming init: |∇W₁| varies by a factor {s:.3g} from depth 2 to {d}; "
                "with twice the Kaiming std it explodes, ×{f:.3g} per layer, to {b:.2e}",
                holds=spread("relu") < 8 and per_layer("relu-2x-init") > 1.5,
                s=spread("relu"),
                d=deep,
                f=per_layer("relu-2x-init"),
                b=grads["relu-2x-init"][-1],
            ),
            suite.Claim.of(
                "with residual connections the same sigmoid layers keep |∇W₁| within a factor "
                "{s:.3g} from depth 2 to {d}",
                holds=spread("residual-sigmoid") < 2.5,
                s=spread("residual-sigmoid"),
                d=deep,
            ),
        ]
        xs = [float(d) for d in depths]
        series = [
            suite.Series(k, xs, [math.log10(v) for v in grads[k]], "depth", "log10 |∇W₁|")
            for k in kinds
        ]
        note = f"width-64 MLPs at init, 64 Gaussian inputs, L = mean output sum, geo-mean of {nets} nets"
        return suite.Evidence(table=table, claims=claims, series=series, note=note)


def _flat_grad(model: nn.Module) -> Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def _cosine(a: Tensor, b: Tensor) -> float:
    return F.cosine_similarity(a, b, dim=0).item()


def _set_grads(model: nn.Module, flat: Tensor) -> None:
    offset = 0
    for p in model.parameters():
        p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()


class GradientClipping(suite.Topic):
    """Clipping by global norm treats all the gradients of the model as one vector: if its norm
    exceeds max_norm, every entry is multiplied by the same factor max_norm/norm. The update
    keeps its direction and only its length is capped, so one bad batch cannot throw the
    weights far away; below the threshold nothing changes. Clipping by value clamps each entry
    to [-c, c] independently: the large entries are cut and the small ones kept, so the
    direction of the update changes, not just its length.

    Formula:
    norm: g ← g · min(1, max_norm / |g|), |g| over all parameters together
    value: gᵢ ← clamp(gᵢ, -c, c)
    clip_grad_norm_ returns the norm before clipping, useful to log

    Pitfalls:
    - Clip after backward and (with mixed precision) after unscaling the gradients, before the
      optimiser step.
    - Clipping each parameter tensor separately changes the direction too, like value clipping.
    - A threshold that clips every step silently lowers the learning rate; log the norm.
    - With Adam the update size is already normalised per entry; clipping mostly guards
      against the rare spike.

    Follow-up questions:
    - Why is clipping standard for RNNs and large Transformers?
    - How would you choose max_norm?
    - What is adaptive gradient clipping (clipping relative to the weight norm)?
    """

    name = "gradient-clipping"
    area = "optimisation"
    question = (
        "What does clipping gradients by their global norm do, and how does it differ from "
        "clipping by value?"
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        width, max_norm = ctx.pick(128, 64), 1.0
        model = nn.Sequential(nn.Linear(32, width), nn.Tanh(), nn.Linear(width, 8))
        x, y = torch.randn(256, 32, generator=g), 100 * torch.randn(256, 8, generator=g)
        with single_thread():
            F.mse_loss(model(x), y).backward()
            raw = _flat_grad(model).clone()
            before = nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()
            by_norm = _flat_grad(model)
            _set_grads(model, raw)
            nn.utils.clip_grad_norm_(model.parameters(), 10 * raw.norm().item())
            untouched = (_flat_grad(model) - raw).abs().max().item()
            clip_value = raw.abs().median().item()
            _set_grads(model, raw)
            nn.utils.clip_grad_value_(model.parameters(), clip_value)
            by_value = _flat_grad(model)
        table = [
            {"gradient": name, "norm": v.norm().item(), "cosine_with_raw": _cosine(raw, v)}
            for name, v in (("raw", raw), ("clip by norm", by_norm), ("clip by value", by_value))
        ]
        cos_norm, cos_value = table[1]["cosine_with_raw"], table[2]["cosine_with_raw"]
        claims = [
            suite.Claim.of(
                "clip_grad_norm_ brings a gradient of norm {b:.3g} to {a:.6f} (max_norm 1) with "
                "cosine {c:.7f} to the original: same direction",
                holds=before > 10 * max_norm
                and abs(by_norm.norm().item() - max_norm) < 1e-4
                and cos_norm > 1 - 1e-5,
                b=before,
                a=by_norm.norm(),
                c=cos_norm,
            ),
            suite.Claim.of(
                "with max_norm above the norm the gradient is unchanged (largest change {u:.1e})",
                holds=untouched == 0.0,
                u=untouched,
            ),
            suite.Claim.of(
                "clipping each entry at the median |gᵢ| = {v:.3g} turns the direction: cosine "
                "{c:.4f} with the original",
                holds=cos_value < 0.99,
                v=clip_value,
                c=cos_value,
            ),
        ]
        note = f"MLP 32→{width}→8, MSE on 256 random targets of sd 100, gradients at initialisation"
        return suite.Evidence(table=table, claims=claims, note=note)


_Init = Callable[[Tensor, torch.Generator], object]
_SCHEMES: dict[str, tuple[_Init, Callable[[Tensor], Tensor]]] = {
    "N(0,1) relu": (lambda w, g: w.normal_(0, 1, generator=g), torch.relu),
    "std 1/100 tanh": (lambda w, g: w.normal_(0, 0.01, generator=g), torch.tanh),
    "xavier gain 1 tanh": (lambda w, g: nn.init.xavier_normal_(w, generator=g), torch.tanh),
    "xavier gain 5/3 tanh": (
        lambda w, g: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh"), generator=g),
        torch.tanh,
    ),
    "kaiming relu": (
        lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g),
        torch.relu,
    ),
}


def _activation_stds(depth: int, width: int, scheme: str, g: torch.Generator) -> list[float]:
    """Standard deviation of the activations after each layer of a bias-free MLP."""
    init, act = _SCHEMES[scheme]
    h, stds = torch.randn(256, width, generator=g), []
    for _ in range(depth):
        w = torch.empty(width, width)
        init(w, g)
        h = act(h @ w.T)
        stds.append(h.std().item())
    return stds


def _per_layer_factor(stds: list[float], layers: int = 8) -> float:
    """Geometric mean growth of the std over the first `layers` layers (before overflow)."""
    return (stds[layers] / stds[0]) ** (1 / layers)


class WeightInitialisation(suite.Topic):
    """Each layer multiplies the variance of its input by fan_in · Var(w) times what the
    activation keeps. If that product is above one the activations (and gradients) grow
    exponentially with depth, below one they shrink exponentially: N(0, 1) weights explode,
    tiny ones vanish. Xavier picks Var(w) = 2/(fan_in + fan_out), right for activations that are
    linear near zero such as tanh (with tanh's gain 5/3 to make up for its saturation); Kaiming
    picks Var(w) = 2/fan_in for ReLU, which zeroes half of its input.

    Formula:
    z = W h: Var(z_l) = fan_in · Var(w) · E[h_(l-1)²]; E[h_l²] = k · Var(z_l), k = E[φ(z)²]/Var(z)
    k = 1/2 for ReLU, about 1 for tanh near zero: each layer scales E[h²] by fan_in · Var(w) · k
    Xavier: Var(w) = gain² · 2/(fan_in + fan_out), gain(tanh) = 5/3
    Kaiming: Var(w) = 2/fan_in for ReLU (k = 1/2)
    N(0, 1) with ReLU: std × sqrt(fan_in/2) per layer

    Pitfalls:
    - Constant initialisation makes every unit of a layer identical (symmetry) and they stay so.
    - Xavier with gain 1 under tanh still shrinks the activations slowly with depth.
    - The right variance depends on the activation: Kaiming for ReLU and its cousins, Xavier
      for tanh; GPT-style models also scale residual projections by 1/sqrt(number of layers).
    - Normalisation layers and residuals make deep networks much less sensitive to init.

    Follow-up questions:
    - Should the init preserve the forward variance (fan_in) or the backward one (fan_out)?
    - Why do Transformers often use a small std such as 1/50 and still train?
    - What does orthogonal initialisation add?
    """

    name = "weight-initialisation"
    area = "optimisation"
    question = (
        "Why does the scale of the initial weights matter, and what do Xavier and Kaiming choose?"
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        depth, width = ctx.pick(30, 20), ctx.pick(256, 128)
        with single_thread():
            stds = {s: _activation_stds(depth, width, s, g) for s in _SCHEMES}
        explode = _per_layer_factor(stds["N(0,1) relu"])
        vanish = _per_layer_factor(stds["std 1/100 tanh"])
        xavier, kaiming = stds["xavier gain 5/3 tanh"], stds["kaiming relu"]
        spread = {k: max(v) / min(v) for k, v in (("xavier", xavier), ("kaiming", kaiming))}
        table = [
            {"init": s, "std_layer_1": v[0], f"std_layer_{depth}": v[-1]} for s, v in stds.items()
        ]
        claims = [
            suite.Claim.of(
                "N(0, 1) weights with ReLU multiply the std by {f:.3g} per layer, as "
                "sqrt(fan_in/2) = {e:.3g} predicts, reaching {last:.2g} at layer {d}",
                holds=abs(explode / (width / 2) ** 0.5 - 1) < 0.1,
                f=explode,
                e=(width / 2) ** 0.5,
                last=stds["N(0,1) relu"][-1],
                d=depth,
            ),
            suite.Claim.of(
                "std-1/100 weights with tanh shrink it by {f:.3g} per layer (1/100 · sqrt(fan_in) "
                "= {e:.3g}), down to {last:.2g} at layer {d}",
                holds=abs(vanish / (0.01 * width**0.5) - 1) < 0.1
                and stds["std 1/100 tanh"][-1] < 1e-10,
                f=vanish,
                e=0.01 * width**0.5,
                last=stds["std 1/100 tanh"][-1],
                d=depth,
            ),
            suite.Claim.of(
                "Xavier (gain 5/3) with tanh keeps the std within a factor {x:.3g} over {d} "
                "layers, Kaiming with ReLU within {k:.3g}",
                holds=spread["xavier"] < 1.5 and spread["kaiming"] < 4,
                x=spread["xavier"],
                k=spread["kaiming"],
                d=depth,
            ),
        ]
        xs = [float(i + 1) for i in range(depth)]
        series = [
            suite.Series(s, xs, [math.log10(v) for v in values], "layer", "log10 activation std")
            for s, values in stds.items()
        ]
        note = f"bias-free MLPs of width {width}, {depth} layers, 256 Gaussian inputs"
        return suite.Evidence(table=table, claims=claims, series=series, note=note)


TOPICS: tuple[type[suite.Topic], ...] = (
    VanishingExplodingGradients,
    GradientClipping,
    WeightInitialisation,
)
