"""Properties of positional encodings: honest declarations, agreement, and the maths each method claims.

Which checks apply follows from what the component declares (`suite.PositionalEncoding`):
`enters` says which entry point carries position (the others must be identities), `relative`
that scores depend on m − n only, `shift_linear` that PE(p + k) is a fixed linear map of PE(p),
`linear_bias` that the bias is −m_h·(i − j) on the causal pairs. Agreement with the registered
reference compares `embed` outputs, rotated q and k, and causal attention probabilities (after
the softmax, which forgives a constant added to a row of the bias, as BLOOM's ALiBi does).

Bias queries are bottom-right aligned: query i sits at position i + Tk − Tq; the examples draw
Tq <= Tk, and a start position per batch row for `embed` and `rotate`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from suite.oracles import dense_attention
from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    PropertySkip,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import call_component, max_abs_diff, randn

__all__: list[str] = []

ATOL, RTOL = 1e-4, 1e-4  # float32 against float32 or float64 computations of the same formula
CHANGED = 1e-4  # an entry point "does something" when it moves some value by more than this


def _sizes(ex: Example) -> tuple[int, int, int]:
    """(d_model, n_heads, max_len) for this example; max_len covers every position drawn."""
    d_model = ex["heads"] * ex["head_dim"]
    max_len = max(ex["starts"]) + ex["tk"] + ex["shift"] + 1
    return d_model, ex["heads"], max_len


def _build(cls: type, ex: Example) -> Any:
    d_model, n_heads, max_len = _sizes(ex)
    torch.manual_seed(ex["seed"] % (2**31))  # learned tables start from the same draw
    mod = call_component(
        f"{cls.__name__}().build({d_model}, {n_heads}, {max_len})",
        lambda: cls().build(d_model, n_heads, max_len),
    )
    if not isinstance(mod, nn.Module):
        fail(f"build() returned {type(mod).__name__}, not an nn.Module")
    return mod


def _positions(ex: Example, length: int, *, end: int | None = None, shift: int = 0) -> Tensor:
    """Long `(B, length)`: row b holds start_b + shift + (end - length) + 0..length-1."""
    first = (ex["tk"] if end is None else end) - length
    starts = torch.tensor(ex["starts"])[:, None] + shift + first
    return starts + torch.arange(length)[None, :]


def _qkx(ex: Example) -> tuple[Tensor, Tensor, Tensor]:
    b, h, hkv, d = ex["batch"], ex["heads"], ex["kv_heads"], ex["head_dim"]
    q = randn((b, h, ex["tq"], d), ex["seed"], 0)  # (B, H, Tq, D)
    k = randn((b, hkv, ex["tk"], d), ex["seed"], 1)  # (B, Hkv, Tk, D)
    x = randn((b, ex["tk"], h * d), ex["seed"], 2)  # (B, T, C)
    return q, k, x


def _embed(mod: Any, x: Tensor, positions: Tensor) -> Tensor:
    with torch.no_grad():
        out = call_component(f"embed(x {tuple(x.shape)}, positions)", mod.embed, x, positions)
    if not isinstance(out, Tensor) or out.shape != x.shape:
        fail(f"embed must return a tensor shaped like x {tuple(x.shape)}, got {_shape(out)}")
    return out


def _rotate(mod: Any, q: Tensor, k: Tensor, pq: Tensor, pk: Tensor) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        out = call_component(
            f"rotate(q {tuple(q.shape)}, k {tuple(k.shape)}, positions_q, positions_k)",
            mod.rotate,
            q,
            k,
            pq,
            pk,
        )
    if not isinstance(out, tuple) or len(out) != 2:
        fail(f"rotate must return the pair (q, k), got {type(out).__name__}")
    if out[0].shape != q.shape or out[1].shape != k.shape:
        fail(
            f"rotate must keep the shapes of q {tuple(q.shape)} and k {tuple(k.shape)}, got {_shape(out[0])} and {_shape(out[1])}"
        )
    return out[0], out[1]


def _bias(mod: Any, ex: Example) -> Tensor | None:
    tq, tk, h = ex["tq"], ex["tk"], ex["heads"]
    with torch.no_grad():
        out = call_component(f"bias({tq}, {tk})", mod.bias, tq, tk)
    if out is None:
        return None
    if (
        not isinstance(out, Tensor)
        or out.dim() != 4
        or tuple(out.shape[1:]) != (h, tq, tk)
        or out.shape[0] not in (1, ex["batch"])
    ):
        fail(f"bias({tq}, {tk}) must be None or a (1|B, {h}, {tq}, {tk}) tensor, got {_shape(out)}")
    if not out.is_floating_point():
        fail(f"bias must be floating point, got {out.dtype}")
    return out


def _shape(x: object) -> object:
    return tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__


def _causal(ex: Example) -> Tensor:
    """Bool `(Tq, Tk)`: key j is at or before query i (queries bottom-right aligned)."""
    tq, tk = ex["tq"], ex["tk"]
    return torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=tk - tq)


def _scores(q: Tensor, k: Tensor, bias: Tensor | None) -> Tensor:
    """float64 q·kᵀ/√D (+ bias), key/value heads repeated per group: `(B, H, Tq, Tk)`."""
    k = k.double().repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    scores = q.double() @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return scores if bias is None else scores + bias.double()


def _causal_probs(mod: Any, ex: Example, q: Tensor, k: Tensor) -> Tensor:
    pq, pk = _positions(ex, ex["tq"]), _positions(ex, ex["tk"])
    rq, rk = _rotate(mod, q, k, pq, pk)
    scores = _scores(rq, rk, _bias(mod, ex))
    return scores.masked_fill(~_causal(ex), -math.inf).softmax(dim=-1)


def _close(a: Tensor, b: Tensor) -> bool:
    return bool(torch.allclose(a.double(), b.double(), atol=ATOL, rtol=RTOL))


def _needs_reference(subject: Subject) -> str | None:
    if subject.reference is None:
        return f"no reference to agree with ({subject.reference_note})"
    return None


# --------------------------------------------------------------------------- checks


def check_declared(subject: Subject, ex: Example) -> None:
    """Entry points other than `enters` are identities; the declared one changes something."""
    enters = subject.cls.enters
    mod = _build(subject.cls, ex)
    q, k, x = _qkx(ex)
    px, pq, pk = _positions(ex, ex["tk"]), _positions(ex, ex["tq"]), _positions(ex, ex["tk"])
    embedded = _embed(mod, x, px)
    rq, rk = _rotate(mod, q, k, pq, pk)
    bias = _bias(mod, ex)
    moved = {
        "embedding": max_abs_diff(embedded, x),
        "rotation": max(max_abs_diff(rq, q), max_abs_diff(rk, k)),
        "bias": 0.0 if bias is None else float(bias.abs().max()),
    }
    for entry, change in moved.items():
        if entry != enters and change > CHANGED:
            fail(
                f"declares enters = {enters!r}, but its {entry} entry point changed its input by {change:.3g}: declare where position enters, or make the others identities"
            )
    if enters == "none":
        return
    if enters == "rotation" and int(torch.cat([pq, pk], 1).max()) == 0:
        raise PropertySkip("every position is 0, where a rotation is the identity")
    if enters == "bias":
        assert bias is not None or moved["bias"] == 0.0
        if bias is None:
            fail("declares enters = 'bias', but bias() returned None")
        if ex["tk"] < 2:
            raise PropertySkip("one key: a bias can only be a constant")
        spread = float((bias.amax(-1) - bias.amin(-1)).max())  # a row constant changes nothing
        if spread <= CHANGED:
            fail(
                "declares enters = 'bias', but every row of the bias is constant: softmax ignores it"
            )
        return
    if moved[enters] <= CHANGED:
        fail(
            f"declares enters = {enters!r}, but its {enters} entry point left the input unchanged (max change {moved[enters]:.3g}) at positions up to {int(px.max())}"
        )


def check_reference(subject: Subject, ex: Example) -> None:
    assert subject.reference is not None
    mod, ref = _build(subject.cls, ex), _build(subject.reference, ex)
    q, k, x = _qkx(ex)
    px = _positions(ex, ex["tk"])
    out, expected = _embed(mod, x, px), _embed(ref, x, px)
    if not _close(out, expected):
        fail(
            f"embed differs from {subject.reference.name} by {max_abs_diff(out, expected):.3g} at positions {int(px.min())}..{int(px.max())}"
        )
    pq, pk = _positions(ex, ex["tq"]), px
    (mq, mk), (fq, fk) = _rotate(mod, q, k, pq, pk), _rotate(ref, q, k, pq, pk)
    if not (_close(mq, fq) and _close(mk, fk)):
        error = max(max_abs_diff(mq, fq), max_abs_diff(mk, fk))
        fail(
            f"rotated q/k differ from {subject.reference.name} by {error:.3g} at positions up to {int(pk.max())} (head size {ex['head_dim']})"
        )
    got, want = _causal_probs(mod, ex, q, k), _causal_probs(ref, ex, q, k)
    if not _close(got, want):
        fail(
            f"causal attention probabilities with its bias differ from {subject.reference.name}'s by {max_abs_diff(got, want):.3g} (H={ex['heads']}, Tq={ex['tq']}, Tk={ex['tk']})"
        )


def check_relative(subject: Subject, ex: Example) -> None:
    """Shifting every position by s leaves q·k after `rotate` unchanged; the bias is Toeplitz
    on the causal pairs once each row's own-position entry is subtracted."""
    mod = _build(subject.cls, ex)
    q, k, _ = _qkx(ex)
    s = ex["shift"]
    pq, pk = _positions(ex, ex["tq"]), _positions(ex, ex["tk"])
    before = _scores(*_rotate(mod, q, k, pq, pk), None)
    after = _scores(*_rotate(mod, q, k, pq + s, pk + s), None)
    if not _close(before, after):
        fail(
            f"declares relative = True, but shifting every position by {s} changed q·k after rotate by {max_abs_diff(before, after):.3g}"
        )
    bias = _bias(mod, ex)
    if bias is None or ex["tk"] < 2:
        return
    tq, tk = ex["tq"], ex["tk"]
    rows = torch.arange(tq)
    own = bias[..., rows, rows + tk - tq]  # (1|B, H, Tq): each query's own position
    relative = (bias - own[..., None]).double()
    distance = (rows + tk - tq)[:, None] - torch.arange(tk)[None, :]  # (Tq, Tk)
    causal = _causal(ex)
    for d in range(int(distance[causal].max()) + 1):
        values = relative[..., (distance == d) & causal]  # (1|B, H, n)
        if values.numel() and float((values.amax(-1) - values.amin(-1)).max()) > ATOL * (
            1 + float(values.abs().max())
        ):
            fail(
                f"declares relative = True, but the bias at distance {d} differs between queries by {float((values.amax(-1) - values.amin(-1)).max()):.3g} (after subtracting each row's own-position bias)"
            )


def check_rotation_norms(subject: Subject, ex: Example) -> None:
    mod = _build(subject.cls, ex)
    q, k, _ = _qkx(ex)
    rq, rk = _rotate(mod, q, k, _positions(ex, ex["tq"]), _positions(ex, ex["tk"]))
    for name, before, after in (("q", q, rq), ("k", k, rk)):
        a, b = before.double().norm(dim=-1), after.double().norm(dim=-1)
        if not _close(a, b):
            fail(
                f"a rotation preserves norms, but |{name}| changed by up to {max_abs_diff(a, b):.3g} (head size {ex['head_dim']})"
            )


def check_shift_linear(subject: Subject, ex: Example) -> None:
    """PE(p) = embed(0, p); a least-squares M_k from PE(p) to PE(p + k) must fit every p."""
    d_model = ex["heads"] * ex["head_dim"]
    count = max(64, 4 * d_model)  # more positions than dimensions: M_k is over-determined
    k = ex["shift"]
    sizes = (d_model, ex["heads"], count + k + 1)
    torch.manual_seed(ex["seed"] % (2**31))
    mod = call_component(
        f"{subject.cls.__name__}().build{sizes}", lambda: subject.cls().build(*sizes)
    )
    positions = torch.arange(count + k)[None]  # (1, P + k)
    pe = _embed(mod, torch.zeros(1, count + k, d_model), positions)[0].double()  # (P + k, C)
    src, dst = pe[:count], pe[k : count + k]
    m = torch.linalg.lstsq(src, dst).solution  # one M_k for all P positions (P > C rows)
    error = float((src @ m - dst).abs().max())
    if error > 1e-3 * (1 + float(dst.abs().max())):
        fail(
            f"declares shift_linear = True, but no fixed matrix maps PE(p) to PE(p + {k}) for all p < {count}: the best one misses by {error:.3g}"
        )


def check_linear_bias(subject: Subject, ex: Example) -> None:
    if ex["tk"] < 2:
        raise PropertySkip("one key: no distance to be linear in")
    mod = _build(subject.cls, ex)
    bias = _bias(mod, ex)
    if bias is None:
        fail("declares linear_bias = True, but bias() returned None")
    tq, tk = ex["tq"], ex["tk"]
    rows = torch.arange(tq)
    own = bias[..., rows, rows + tk - tq]
    relative = (bias - own[..., None]).double()  # (1|B, H, Tq, Tk)
    distance = ((rows + tk - tq)[:, None] - torch.arange(tk)[None, :]).double()
    causal = _causal(ex) & (distance > 0)
    if not bool(causal.any()):
        raise PropertySkip("no causal pair at a positive distance")
    slopes = -(relative[..., causal] / distance[causal]).mean(-1)  # (1|B, H)
    fitted = -slopes[..., None, None] * distance
    error = float((relative - fitted)[..., causal].abs().max())
    if error > ATOL * (1 + float(relative.abs().max())):
        fail(
            f"declares linear_bias = True, but the bias misses −m_h·(i − j) on the causal pairs by {error:.3g}"
        )
    if float(slopes.min()) <= 0:
        fail(
            f"declares linear_bias = True, but head {int(slopes.argmin()) % ex['heads']} has slope {float(slopes.min()):.3g}: distant keys must be penalised (m_h > 0)"
        )


def check_order(subject: Subject, ex: Example) -> None:
    """A bidirectional attention layer with the encoding: equivariant to a permutation of the
    tokens exactly when `enters = "none"`."""
    t, b, h, d = ex["tk"], ex["batch"], ex["heads"], ex["head_dim"]
    if t < 3:
        raise PropertySkip("fewer than three tokens")
    exq = {**ex, "tq": t}
    mod = _build(subject.cls, exq)
    g = torch.Generator().manual_seed(ex["seed"] % (2**31))
    w = torch.randn(3, h * d, h * d, generator=g) / math.sqrt(h * d)  # q, k, v projections
    x = randn((b, t, h * d), ex["seed"], 5)
    positions = _positions(exq, t)

    def layer(tokens: Tensor) -> Tensor:
        y = _embed(mod, tokens, positions)
        q, k, v = (
            (y @ w[i]).view(b, t, h, d).transpose(1, 2) for i in range(3)
        )  # (B, H, T, D) each
        q, k = _rotate(mod, q, k, positions, positions)
        return dense_attention(q, k, v, attn_bias=_bias(mod, exq))  # (B, H, T, D), float64

    perm = torch.roll(torch.arange(t), 1)  # a cyclic shift: no method's symmetry survives it
    out, out_perm = layer(x), layer(x[:, perm])
    change = max_abs_diff(out[:, :, perm], out_perm)
    if subject.cls.enters == "none" and change > ATOL:
        fail(
            f"declares enters = 'none', yet permuting the tokens changed the outputs by {change:.3g} beyond the permutation"
        )
    if subject.cls.enters != "none" and change <= CHANGED:
        fail(
            f"declares enters = {subject.cls.enters!r}, yet attention stayed permutation-equivariant (outputs moved {change:.3g} beyond the permutation): no order information reaches it"
        )


def _when(attribute: str, value: object) -> object:
    def applies(subject: Subject) -> str | None:
        if getattr(subject.cls, attribute) != value:
            return f"does not declare {attribute} = {value!r}"
        return None

    return applies


for _prop in (
    Property(
        "position.declared-entry-point",
        "position",
        "the entry points other than `enters` are identities and the declared one changes its input",
        lambda s: strategies.position_inputs(),
        check_declared,
    ),
    Property(
        "position.reference-agreement",
        "position",
        "embed outputs, rotated q/k and causal attention probabilities equal the reference's, at any start positions",
        lambda s: strategies.position_inputs(),
        check_reference,
        applies=_needs_reference,
    ),
    Property(
        "position.relative-scores",
        "position",
        "relative = True: q·k after rotate is unchanged when every position shifts, and the bias depends on i − j only",
        lambda s: strategies.position_inputs(),
        check_relative,
        applies=_when("relative", True),  # type: ignore[arg-type]
    ),
    Property(
        "position.rotation-norms",
        "position",
        "enters = 'rotation': rotating q and k preserves the norm of every head vector",
        lambda s: strategies.position_inputs(),
        check_rotation_norms,
        applies=_when("enters", "rotation"),  # type: ignore[arg-type]
    ),
    Property(
        "position.shift-linear",
        "position",
        "shift_linear = True: PE(p + k) = M_k PE(p) for one matrix M_k, whatever p",
        lambda s: strategies.position_inputs(),
        check_shift_linear,
        applies=_when("shift_linear", True),  # type: ignore[arg-type]
        cost=0.4,
    ),
    Property(
        "position.linear-bias",
        "position",
        "linear_bias = True: the bias is −m_h·(i − j) on the causal pairs (up to a row constant), with m_h > 0",
        lambda s: strategies.position_inputs(min_len=2),
        check_linear_bias,
        applies=_when("linear_bias", True),  # type: ignore[arg-type]
    ),
    Property(
        "position.order-sensitivity",
        "position",
        "attention with the encoding is permutation-equivariant if and only if enters = 'none'",
        lambda s: strategies.position_inputs(min_len=3),
        check_order,
    ),
):
    register_property(_prop)
