"""Interview topics of the area transformer: where the norm goes, and why residuals are there."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import suite
from suite.nn import MultiHeadAttention
from suite.threads import single_thread


class _Block(nn.Module):
    """Attention + MLP sublayers; `pre`: x + f(LN(x)); otherwise post-LN: LN(x + f(x))."""

    def __init__(self, d: int, heads: int, *, pre: bool) -> None:
        super().__init__()
        self.pre = pre
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads, suite.get("attention", "sdpa")())
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: Tensor) -> Tensor:
        if self.pre:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


def _layer_grad_norms(depth: int, *, pre: bool, g: torch.Generator) -> list[float]:
    """‖∂loss/∂W₂‖ of each layer's second MLP matrix, at a Xavier initialisation, one batch."""
    d, heads, vocab, b, t = 32, 4, 32, 8, 16
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    embed, head = nn.Embedding(vocab, d), nn.Linear(d, vocab)
    blocks = nn.Sequential(*(_Block(d, heads, pre=pre) for _ in range(depth)))
    for module in blocks.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)
    final = nn.LayerNorm(d) if pre else nn.Identity()  # pre-LN needs a last norm
    ids, targets = torch.randint(0, vocab, (2, b, t), generator=g)
    logits = head(final(blocks(embed(ids))))
    F.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    return [block.mlp[2].weight.grad.norm().item() for block in blocks]  # type: ignore[union-attr]


class PreVsPostLayerNorm(suite.Topic):
    """Post-LN (the 2017 original) normalises after the residual add, LN(x + f(x)); pre-LN
    normalises only the sublayer input, x + f(LN(x)), and leaves the residual stream as a clean
    sum. At initialisation, the gradient reaching the last layers of post-LN does not shrink
    with depth, so early Adam steps are large there and training diverges without a learning
    rate warm-up. In pre-LN every layer adds to a stream whose size grows like √L and the final
    norm divides by it, so the last layer's gradient shrinks like 1/√L and training is stable
    without warm-up, at the price of deeper layers contributing less (representation collapse).

    Formula: post-LN x_{l+1} = LN(x_l + F(x_l));  pre-LN x_{l+1} = x_l + F(LN(x_l));
    pre-LN at init: ‖∂L/∂W_last‖ ∝ 1/√L,  ‖∂L/∂x_l‖² ∝ L / l

    Pitfalls:
    - pre-LN needs a final LayerNorm before the output head, or the stream's growth reaches it.
    - pre-LN's gradients are larger near the input, not flat: later layers learn less, which is
      why very deep pre-LN models waste depth.
    - post-LN without warm-up can look fine for a few hundred steps and then diverge.

    Follow-up questions:
    - What do DeepNorm, Admin or sandwich-LN change?
    - Why did RMSNorm replace LayerNorm in most recent LLMs?
    - How does warm-up interact with Adam's second-moment estimate?
    """

    name = "pre-ln-vs-post-ln"
    area = "transformer"
    question = "Pre-LN or post-LN: where should LayerNorm go, and why does post-LN need warm-up?"
    components = ("attention:sdpa",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        shallow, deep = 2, ctx.pick(24, 16)
        with single_thread():
            norms = {
                (pre, depth): _layer_grad_norms(depth, pre=pre, g=g)
                for pre in (True, False)
                for depth in (shallow, deep)
            }
        rows = [
            {"norm": "pre-LN" if pre else "post-LN", "layers": depth, "layer": i + 1, "grad": v}
            for (pre, depth), values in norms.items()
            for i, v in enumerate(values)
        ]
        top = {key: sum(values[-2:]) / 2 for key, values in norms.items()}  # the last two layers
        pre_keep = top[True, deep] / top[True, shallow]
        post_keep = top[False, deep] / top[False, shallow]
        top_ratio = top[False, deep] / top[True, deep]
        pre_slope = norms[True, deep][0] / norms[True, deep][-1]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "from {s} to {l} layers the gradient of the last two layers scales by {a:.3g} under "
                    "pre-LN (1/√(L ratio) = {p:.3g}) but by {b:.3g} under post-LN",
                    holds=pre_keep < 0.65 and post_keep > 0.75,
                    s=shallow,
                    l=deep,
                    a=pre_keep,
                    p=math.sqrt(shallow / deep),
                    b=post_keep,
                ),
                suite.Claim.of(
                    "at {l} layers post-LN's gradient in the last two layers is {r:.3g}× pre-LN's",
                    holds=top_ratio > 1.5,
                    l=deep,
                    r=top_ratio,
                ),
                suite.Claim.of(
                    "pre-LN's gradient is {r:.3g}× larger at layer 1 than at layer {l}",
                    holds=pre_slope > 1.5,
                    r=pre_slope,
                    l=deep,
                ),
            ],
            series=[
                suite.Series(
                    "pre-LN" if pre else "post-LN",
                    [float(i + 1) for i in range(deep)],
                    norms[pre, deep],
                    "layer",
                    "‖∂loss/∂W₂‖ at init",
                )
                for pre in (True, False)
            ],
            note=f"d = 32, 4 heads, 8 × 16 random tokens, Xavier init, cross-entropy on a "
            f"random next token; {shallow} and {deep} layers",
        )


def _stack_grad_norms(depth: int, mode: str, g: torch.Generator) -> list[float]:
    """‖∂loss/∂W₁‖ per layer of a stack of FFN sublayers at PyTorch's default init (float64).

    `mode`: `plain` x ← f(x); `residual` x ← x + f(x); `pre-ln` x ← x + f(LN(x)).
    """
    d, b = 64, 32
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    ffns = [
        nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)).double()
        for _ in range(depth)
    ]
    norm = nn.LayerNorm(d).double()
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    upstream = torch.randn(b, d, generator=g, dtype=torch.float64)
    for f in ffns:
        x = f(x) if mode == "plain" else x + f(norm(x) if mode == "pre-ln" else x)
    (x * upstream).sum().backward()
    return [f[0].weight.grad.norm().item() for f in ffns]  # type: ignore[union-attr]


class ResidualConnections(suite.Topic):
    """A residual connection adds the sublayer's output to its input, x + f(x), so the Jacobian
    of each layer is I + ∂f/∂x instead of ∂f/∂x. Backpropagating through L plain layers
    multiplies L Jacobians whose gains are below one at a standard init, and the gradient
    reaching the first layer shrinks geometrically: it stops learning. With residuals the
    identity term gives every layer a direct path to the loss, so the first layer gets a
    gradient of the same order as the last, and a deep stack starts close to the identity.

    Formula: plain ∂x_L/∂x_0 = Π_l J_l;  residual ∂x_L/∂x_0 = Π_l (I + J_l) = I + Σ_l J_l + …

    Pitfalls:
    - with residuals the stream grows with depth (variance adds up); pre-LN or scaled inits
      (1/√L on the output projections) keep it bounded.
    - a norm inside every block also keeps gradients from vanishing, so test on a stack without
      norms; what a norm cannot give is the identity path (stacks of attention alone, without
      residuals, collapse every token to the same vector).
    - the residual branch and the stream must have the same width; a projection on the skip path
      loses the clean identity.

    Follow-up questions:
    - Why do residual networks behave like ensembles of shallower paths?
    - What does ReZero or LayerScale (a learned scale on f, starting at zero) buy?
    - How does this relate to LSTM gates and the vanishing gradient in RNNs?
    """

    name = "residual-connections-gradient-flow"
    area = "transformer"
    question = (
        "Why can a deep Transformer train at all: what do residual connections do for gradients?"
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        depth = ctx.pick(32, 16)
        with single_thread():
            norms = {
                mode: _stack_grad_norms(depth, mode, g) for mode in ("plain", "residual", "pre-ln")
            }
        plain, residual, pre_ln = (norms[m] for m in ("plain", "residual", "pre-ln"))
        return suite.Evidence(
            table=[
                {"stack": mode, "first_layer_grad": v[0], "last_layer_grad": v[-1]}
                for mode, v in norms.items()
            ],
            claims=[
                suite.Claim.of(
                    "without residuals the first of {l} layers gets gradient {p:.3g}, "
                    "{o:.3g} orders of magnitude below the {r:.3g} it gets with residuals",
                    holds=plain[0] < 1e-6 * residual[0],
                    l=depth,
                    p=plain[0],
                    r=residual[0],
                    o=math.log10(residual[0] / max(plain[0], 1e-300)),
                ),
                suite.Claim.of(
                    "without residuals the gradient falls {o:.3g} orders of magnitude from the "
                    "last layer ({a:.3g}) to the first ({b:.3g})",
                    holds=plain[0] < 1e-6 * plain[-1],
                    o=math.log10(plain[-1] / max(plain[0], 1e-300)),
                    a=plain[-1],
                    b=plain[0],
                ),
                suite.Claim.of(
                    "with residuals first/last layer gradient is {r:.3g} (x + f(x)) and "
                    "{p:.3g} (x + f(LN(x))): the same order",
                    holds=all(1 / 3 < v[0] / v[-1] < 3 for v in (residual, pre_ln)),
                    r=residual[0] / residual[-1],
                    p=pre_ln[0] / pre_ln[-1],
                ),
            ],
            series=[
                suite.Series(
                    mode,
                    [float(i + 1) for i in range(depth)],
                    values,
                    "layer",
                    "‖∂loss/∂W₁‖ at init",
                    plot="loglog",
                )
                for mode, values in norms.items()
            ],
            note=f"{depth} FFN sublayers (64 → 256 → 64, GELU), PyTorch default init, float64, "
            "batch of 32, loss Σ x_L·u with random u",
        )


TOPICS: tuple[type[suite.Topic], ...] = (PreVsPostLayerNorm, ResidualConnections)
