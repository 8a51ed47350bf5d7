"""Interview topics of the area norm: why text uses LayerNorm, and BatchNorm's two modes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite
from suite.errors import ComponentInputError

__all__ = ["TOPICS", "BatchNormTrainVsEval", "LayerNormVsBatchNorm"]


def _norm(name: str, num_features: int) -> nn.Module:
    return suite.get("norm", name)().build(num_features)


def _padded(real: list[Tensor], length: int) -> tuple[Tensor, Tensor]:
    """Sentences `(T_i, C)` right-padded with zeros to `length`: x `(B, T, C)`, mask `(B, T)`."""
    x = torch.zeros(len(real), length, real[0].shape[-1])
    mask = torch.zeros(len(real), length, dtype=torch.bool)
    for i, sentence in enumerate(real):
        x[i, : len(sentence)] = sentence
        mask[i, : len(sentence)] = True
    return x, mask


class LayerNormVsBatchNorm(suite.Topic):
    """BatchNorm normalises each feature with statistics taken across the batch, so a token's
    output depends on every other token in the batch, padding included: padding the same
    sentences to a longer length changes BatchNorm's outputs on the real tokens. LayerNorm
    normalises each token over its own features, so its output does not care what else is in
    the batch, how long the padding is, or whether the batch holds one example. A batch of one
    token has no variance at all for BatchNorm in training, and a batch of two tokens collapses
    every output to plus or minus one.

    Formula:
    BatchNorm, per feature c over the N tokens: y = γ (x - mean_N(x_c)) / sqrt(var_N(x_c) + eps) + β
    LayerNorm, per token over its C features: y = γ (x - mean_C(x)) / sqrt(var_C(x) + eps) + β
    Two tokens a, b: mean = (a + b)/2, var = (a - b)²/4, so y = ±1 whatever a and b are.

    Pitfalls:
    - Padding counts as data in BatchNorm unless the statistics are masked; masked BatchNorm
      fixes padding but still couples the examples of a batch.
    - Variable-length text makes the number of tokens per batch, hence the noise of the
      statistics, vary from batch to batch.
    - BatchNorm in eval mode uses running statistics, so it works on one example at inference
      but behaves differently from training (see batchnorm-train-vs-eval).
    - LayerNorm's statistics are per token: it needs no running estimates and is identical in
      training and inference.

    Follow-up questions:
    - What does RMSNorm drop from LayerNorm, and why does it still work?
    - Where does the norm go in a Pre-LN versus a Post-LN Transformer block?
    - How would you make BatchNorm ignore padding, and what would still be wrong?
    """

    name = "layernorm-vs-batchnorm"
    area = "norm"
    question = "Why do Transformers for text use LayerNorm rather than BatchNorm?"
    components = ("norm:batchnorm", "norm:masked-batchnorm", "norm:layernorm")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        channels, batch = ctx.pick(64, 32), ctx.pick(8, 4)
        lengths = torch.randint(4, 16, (batch,), generator=g).tolist()
        offset, scale = torch.randn(channels, generator=g), 1 + torch.rand(channels, generator=g)
        real = [offset + scale * torch.randn(n, channels, generator=g) for n in lengths]
        short, long = max(lengths), max(lengths) * 4
        table, changes = [], {}
        for name in ("batchnorm", "masked-batchnorm", "layernorm"):
            module = _norm(name, channels).train()
            outs = []
            for length in (short, long):
                x, mask = _padded(real, length)
                outs.append(module(x, mask=mask)[mask])
            changes[name] = (outs[0] - outs[1]).abs().max().item()
            table.append(
                {"norm": name, "pad_to": f"{short} vs {long}", "max_change": changes[name]}
            )

        single = real[0][:1].reshape(1, 1, channels)
        try:
            _norm("batchnorm", channels).train()(single)
            bn_single = "ran"
        except ComponentInputError:
            bn_single = "rejected: no variance"
        ln_single = _norm("layernorm", channels).train()(single)
        ln_mean, ln_std = ln_single.mean().abs().item(), ln_single.std(unbiased=False).item()
        pair = _norm("batchnorm", channels).train()(real[0][:2].reshape(1, 2, channels))
        unit = ((pair.abs() - 1).abs() < 1e-2).float().mean().item()
        table += [
            {"norm": "batchnorm", "pad_to": "one token", "max_change": bn_single},
            {"norm": "layernorm", "pad_to": "one token", "max_change": f"std {ln_std:.3f}"},
        ]
        claims = [
            suite.Claim.of(
                "padding the same sentences from {short} to {long} moves BatchNorm's outputs on "
                "real tokens by up to {bn:.3g}, LayerNorm's by {ln:.1e}, masked BatchNorm's by "
                "{mbn:.1e}",
                holds=changes["batchnorm"] > 0.1
                and changes["layernorm"] < 1e-5
                and changes["masked-batchnorm"] < 1e-4,
                short=short,
                long=long,
                bn=changes["batchnorm"],
                ln=changes["layernorm"],
                mbn=changes["masked-batchnorm"],
            ),
            suite.Claim.of(
                "on a batch of one token BatchNorm in training has no variance to use (it is "
                "rejected), while LayerNorm returns mean {m:.1e} and standard deviation {s:.4f}",
                holds=bn_single != "ran" and ln_mean < 1e-5 and abs(ln_std - 1) < 1e-3,
                m=ln_mean,
                s=ln_std,
            ),
            suite.Claim.of(
                "on a batch of two tokens BatchNorm's outputs are all ±1: {frac:.1%} of them "
                "lie within 1/100 of magnitude one",
                holds=unit > 0.9,
                frac=unit,
            ),
        ]
        note = f"{batch} random sentences of 4 to 15 tokens, {channels} features, training mode"
        return suite.Evidence(table=table, claims=claims, note=note)


class BatchNormTrainVsEval(suite.Topic):
    """In training BatchNorm normalises with the current batch's mean and variance and updates
    exponential running averages of them; in eval mode it uses those running averages instead.
    Early in training the running estimates still sit near their starting values (mean zero,
    variance one), so eval-mode outputs differ a lot from train-mode outputs; as batches go by
    the running statistics converge to the data statistics, the error shrinking by a factor
    (1 - m) per step down to a floor set by batch noise, and the gap between the two modes
    closes to that noise.

    Formula:
    running_mean ← (1 - m) running_mean + m · batch_mean   (PyTorch default m = 1/10)
    running_var ← (1 - m) running_var + m · batch_var · N/(N - 1)
    error after t steps ≈ (1 - m)^t · |initial error| + noise of order σ/sqrt(N) · sqrt(m/(2 - m))
    eval: y = γ (x - running_mean) / sqrt(running_var + eps) + β, a fixed affine map

    Pitfalls:
    - Forgetting model.eval() at inference makes predictions depend on the batch they come in.
    - Evaluating a model after only a few steps (or after changing the data distribution)
      uses stale running statistics.
    - PyTorch's momentum is the weight of the new batch; Keras's is the weight of the old value.
    - Freezing BatchNorm when fine-tuning on small batches: keep it in eval mode so the
      running statistics are not overwritten by noisy ones.

    Follow-up questions:
    - How would you fold an eval-mode BatchNorm into the preceding linear layer?
    - What does momentum=None (a cumulative average) change?
    - Why is the running variance unbiased while the normalisation uses the biased one?
    """

    name = "batchnorm-train-vs-eval"
    area = "norm"
    question = "What changes when a BatchNorm layer goes from training to eval mode?"
    components = ("norm:batchnorm",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        channels, steps = ctx.pick(32, 16), ctx.pick(80, 60)
        batch, length = 8, 16
        mu = 2 * torch.randn(channels, generator=g)
        sigma = 0.5 + 2.5 * torch.rand(channels, generator=g)
        module = _norm("batchnorm", channels)
        mean_err, var_err, gaps = [], [], []
        for _ in range(steps):
            x = mu + sigma * torch.randn(batch, length, channels, generator=g)
            with torch.no_grad():
                eval_out = module.eval()(x)
                train_out = module.train()(x)  # updates the running statistics
            gaps.append((train_out - eval_out).abs().mean().item())
            mean_err.append((module.running_mean - mu).abs().mean().item())
            var_err.append(((module.running_var - sigma**2).abs() / sigma**2).mean().item())
        first_gap, last_gap = gaps[0], sum(gaps[-10:]) / 10
        first_err, last_err = mean_err[0], mean_err[-1]
        step_axis = [float(s + 1) for s in range(steps)]
        table = [
            {"step": s, "train_eval_gap": gaps[s - 1], "mean_error": mean_err[s - 1]}
            for s in (1, 5, 10, 20, 40, steps)
        ]
        claims = [
            suite.Claim.of(
                "before the first update train- and eval-mode outputs differ by {a:.3g} on "
                "average; over the last ten of {n} steps by {b:.3g}",
                holds=first_gap > 10 * last_gap,
                a=first_gap,
                b=last_gap,
                n=steps,
            ),
            suite.Claim.of(
                "|running_mean - true mean| falls from {a:.3g} after one step to {b:.3g} after "
                "{n} steps, and the running variance ends within {v:.1%} of the true one",
                holds=last_err < 0.1 * first_err and var_err[-1] < 0.15,
                a=first_err,
                b=last_err,
                n=steps,
                v=var_err[-1],
            ),
        ]
        series = [
            suite.Series("|running_mean - mean|", step_axis, mean_err, "step", "error"),
            suite.Series("relative running_var error", step_axis, var_err, "step", "error"),
            suite.Series("train-eval gap", step_axis, gaps, "step", "mean |y_train - y_eval|"),
        ]
        note = f"batches of {batch}×{length} tokens, {channels} features, momentum 1/10"
        return suite.Evidence(table=table, claims=claims, series=series, note=note)


TOPICS: tuple[type[suite.Topic], ...] = (LayerNormVsBatchNorm, BatchNormTrainVsEval)
