"""Interview topics of the area alignment: how a reward model learns from human preferences."""

from __future__ import annotations

import torch

import suite
from plugins.losses.data import PreferenceConfig, mlp, preference_pairs
from suite.threads import single_thread

__all__ = ["TOPICS", "RewardModelLossTopic"]

_SHIFTS = (-100.0, 1.0, 1000.0)


class RewardModelLossTopic(suite.Topic):
    """A reward model scores each answer with one scalar. Annotators only say which of two
    answers they prefer, so the model is fitted with the Bradley-Terry likelihood: the chance the
    chosen answer wins is the sigmoid of the score difference, and the loss is its negative log,
    a logistic regression on r(chosen) - r(rejected). Only differences enter, so the reward is
    defined up to an additive constant (normalise it before RL); its scale is not free, since
    multiplying the scores changes the predicted win probabilities. Held-out pairwise accuracy is
    capped by label noise: annotators disagree, so even the true reward is not always right.

    Formula:
    P(y_c beats y_r | x) = σ(r(x, y_c) - r(x, y_r))
    loss = -1/N Σ_i log σ(d_i) = 1/N Σ_i log(1 + exp(-d_i)),  d_i = r_c,i - r_r,i
    r -> r + c leaves every d_i, hence the loss and its gradient, unchanged

    Pitfalls:
    - compute -log σ(d) as softplus(-d) (or logsigmoid): the naive form underflows for very
      negative d.
    - a constant shift is invisible to the loss, so the reward's offset drifts; normalise it or
      add a small penalty on r².
    - accuracy on held-out pairs is bounded by annotator agreement, not by one.
    - the reward model is over-optimised by the policy (reward hacking): keep a KL penalty.

    Follow-up questions:
    - How does DPO reuse this loss without a separate reward model?
    - How would you use K ranked answers per prompt instead of one pair?
    - Why is the reward model usually initialised from the SFT model?
    """

    name = "reward-model-pairwise-loss"
    area = "alignment"
    question = "How is a reward model trained from pairwise human preferences?"
    components = ("loss:ranking",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        with single_thread():
            return self._measure(ctx)

    def _measure(self, ctx: suite.TopicContext) -> suite.Evidence:
        n = ctx.pick(4000, 1500)
        data = preference_pairs(PreferenceConfig(n_train=n, n_test=n), ctx.generator())
        model = mlp([data.train_chosen.shape[1], 32, 1], ctx.generator(1))
        loss_fn = suite.get("loss", "ranking")()
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        steps = ctx.pick(200, 100)
        for _ in range(steps):  # full batch
            loss = loss_fn(
                model(data.train_chosen).squeeze(1), model(data.train_rejected).squeeze(1)
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            chosen = model(data.test_chosen).squeeze(1).double()
            rejected = model(data.test_rejected).squeeze(1).double()
        accuracy = (chosen > rejected).double().mean().item()
        ceiling = (data.test_true_margin > 0).double().mean().item()  # the hidden reward's accuracy
        recovered = (accuracy - 0.5) / (ceiling - 0.5)
        base = loss_fn(chosen, rejected).item()
        shifted = [loss_fn(chosen + c, rejected + c).item() for c in _SHIFTS]
        worst_shift = max(abs(s - base) for s in shifted)
        scaled = loss_fn(2 * chosen, 2 * rejected).item()
        table = [
            {"reward": "trained", "held_out_accuracy": accuracy, "loss": base},
            {"reward": "hidden true reward", "held_out_accuracy": ceiling},
        ] + [
            {"reward": f"trained + {c:g}", "loss": s} for c, s in zip(_SHIFTS, shifted, strict=True)
        ]
        table.append({"reward": "trained x 2", "loss": scaled})
        claims = [
            suite.Claim.of(
                "held-out pairwise accuracy {acc:.3g}, well above chance (1/2): {frac:.2g} of the "
                "way to the {ceil:.3g} that the hidden true reward scores on the same noisy labels",
                holds=accuracy > 0.6 and recovered > 0.8,
                acc=accuracy,
                frac=recovered,
                ceil=ceiling,
            ),
            suite.Claim.of(
                "adding a constant (from {lo:g} to {hi:g}) to both rewards moves the float64 "
                "loss by at most {d:.2g}",
                holds=worst_shift < 1e-9,
                lo=min(_SHIFTS),
                hi=max(_SHIFTS),
                d=worst_shift,
            ),
            suite.Claim.of(
                "but doubling both rewards changes it, from {l:.4g} to {l2:.4g}: the offset is "
                "free, the scale is not",
                holds=abs(scaled - base) > 1e-3,
                l=base,
                l2=scaled,
            ),
        ]
        note = (
            f"MLP reward model 16-32-1, {steps} full-batch Adam steps on {n} Bradley-Terry "
            f"labelled pairs, scored on {n} held-out pairs"
        )
        return suite.Evidence(table=table, claims=claims, note=note)


TOPICS: tuple[type[suite.Topic], ...] = (RewardModelLossTopic,)
