"""Interview topic of the area decoding: teacher forcing and exposure bias."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite
from suite.threads import single_thread


class ExposureBias(suite.Topic):
    """Teacher forcing trains every position on the true prefix, so the model never sees its own
    mistakes; at inference it conditions on what it generated, and one wrong token puts it on a
    prefix it was never trained on. Errors then compound: the share of positions that differ
    from the reference grows along the sequence, while the per-step error under teacher forcing
    stays flat. Scheduled sampling feeds the model its own predictions for part of the prefix
    during training, to close that train/test gap; whether it helps depends on the task.

    Formula: teacher forcing: max Σ_t log p(y_t | y_<t) with the reference prefix;
    free running: ŷ_t = argmax p(· | ŷ_<t);  one early error shifts every later state

    Pitfalls:
    - low teacher-forced loss says little about free-running quality.
    - scheduled sampling's targets stay the reference tokens even on a sampled prefix, which
      can teach the model to ignore its context.
    - compounding needs a state that an error changes for good; some tasks recover.

    Follow-up questions:
    - How do sequence-level objectives (RL, minimum risk training) address exposure bias?
    - Why is exposure bias less visible in large pretrained LMs?
    - How would you measure it on a real model?
    """

    name = "exposure-bias"
    area = "decoding"
    question = "What is exposure bias in teacher-forced training, and how do errors compound?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        vocab, length, steps = 32, 12, 150
        with single_thread():
            data = _fibonacci_sequences(512, length, vocab, g)
            test = _fibonacci_sequences(256, length, vocab, g)
            results = {}
            variants = [("teacher forcing", 0.0), ("scheduled sampling", 0.25)]
            for label, mix in ctx.pick(variants, variants[:1]):  # small: teacher forcing only
                model = _PairModel(vocab, ctx.generator(7))
                _train(model, data, steps, mix, ctx.generator(8))
                results[label] = (_teacher_forced_error(model, test), _free_error(model, test))
        tf_err, free_err = results["teacher forcing"]
        rows = [
            {
                "model": label,
                "position": t + 2,
                "teacher_forced_error": tf[t],
                "free_running_error": fr[t],
            }
            for label, (tf, fr) in results.items()
            for t in range(len(tf))
        ]
        tf_mean = sum(tf_err) / len(tf_err)
        scheduled = results.get("scheduled sampling")
        ss_note = (
            f"; scheduled sampling (a quarter of the inputs replaced by the model's own predictions)"
            f" ends at a free-running error of {scheduled[1][-1]:.3g}"
            if scheduled
            else ""
        )
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "under teacher forcing the per-step error is {tf:.3g} on average; running "
                    "free the share of wrong tokens climbs from {a:.3g} to {b:.3g} by the end",
                    holds=tf_mean > 0
                    and free_err[-1] > 1.5 * tf_mean
                    and free_err[-1] > free_err[0],
                    tf=tf_mean,
                    a=free_err[0],
                    b=free_err[-1],
                ),
                suite.Claim.of(
                    "running free, the error at the last position ({b:.3g}) is at least the error "
                    "at the first ({a:.3g}): once off the reference the state stays off",
                    holds=free_err[-1] >= free_err[0],
                    a=free_err[0],
                    b=free_err[-1],
                ),
            ],
            series=[
                suite.Series(
                    f"{label}, {mode}",
                    [float(t + 2) for t in range(len(tf))],
                    values,
                    "position",
                    "error rate",
                )
                for label, (tf, fr) in results.items()
                for mode, values in (("teacher forced", tf), ("free running", fr))
            ],
            note=f"x_t = (x_(t-1) + x_(t-2)) mod {vocab}; a two-token MLP trained {steps} "
            f"steps{ss_note}",
        )


def _fibonacci_sequences(n: int, length: int, vocab: int, g: torch.Generator) -> Tensor:
    seq = torch.zeros(n, length, dtype=torch.long)
    seq[:, :2] = torch.randint(0, vocab, (n, 2), generator=g)
    for t in range(2, length):
        seq[:, t] = (seq[:, t - 1] + seq[:, t - 2]) % vocab
    return seq


class _PairModel(nn.Module):
    """p(x_t | x_(t-1), x_(t-2)): two embeddings, a small MLP; too small to be perfect quickly."""

    def __init__(self, vocab: int, g: torch.Generator) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
            self.embed = nn.Embedding(vocab, 16)
            self.mlp = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, vocab))

    def forward(self, prev2: Tensor, prev1: Tensor) -> Tensor:
        return self.mlp(torch.cat([self.embed(prev2), self.embed(prev1)], dim=-1))


def _train(model: _PairModel, data: Tensor, steps: int, mix: float, g: torch.Generator) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = data[torch.randint(0, data.shape[0], (64,), generator=g)]
        inputs = batch.clone()
        if mix > 0:  # scheduled sampling: some inputs replaced by the model's own predictions
            with torch.no_grad():
                guess = model(batch[:, :-2], batch[:, 1:-1]).argmax(-1)
            swap = torch.rand(guess.shape, generator=g) < mix
            inputs[:, 2:] = torch.where(swap, guess, batch[:, 2:])
        logits = model(inputs[:, :-2], inputs[:, 1:-1])  # (N, T-2, V)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 2:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def _teacher_forced_error(model: _PairModel, test: Tensor) -> list[float]:
    pred = model(test[:, :-2], test[:, 1:-1]).argmax(-1)
    return (pred != test[:, 2:]).double().mean(0).tolist()


@torch.no_grad()
def _free_error(model: _PairModel, test: Tensor) -> list[float]:
    out = test[:, :2].clone()
    for _ in range(2, test.shape[1]):
        nxt = model(out[:, -2], out[:, -1]).argmax(-1)
        out = torch.cat([out, nxt[:, None]], dim=1)
    return (out[:, 2:] != test[:, 2:]).double().mean(0).tolist()


TOPICS: tuple[type[suite.Topic], ...] = (ExposureBias,)
