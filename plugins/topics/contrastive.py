"""Interview topics of the area contrastive: InfoNCE's temperature, its negatives, and SimCSE."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

import suite
from plugins.losses.data import PairedConfig, PairedEmbeddings, mlp, paired_embeddings
from suite.threads import single_thread

__all__ = ["TOPICS", "BatchNegativesTopic", "SimCSEDropoutTopic", "TemperatureTopic"]

_TAUS = (0.02, 0.05, 0.1, 0.3, 1.0)
_HARD = {"nuisance_scale": 3.0, "noise": 1.0, "latent_dim": 8, "nuisance_dim": 32}


class _OneThread(suite.Topic):
    """Runs `_measure` with one intra-op thread: tiny training loops are faster that way."""

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        with single_thread():
            return self._measure(ctx)

    def _measure(self, ctx: suite.TopicContext) -> suite.Evidence:
        raise NotImplementedError


def _unit(z: Tensor) -> Tensor:
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _rising(xs: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(xs))


def _top1(a: Tensor, b: Tensor) -> float:
    """How often row i of `a` finds row i of `b` as its nearest neighbour by cosine."""
    hits = (_unit(a) @ _unit(b).T).argmax(dim=1) == torch.arange(len(a))
    return hits.float().mean().item()


def _uniformity(z: Tensor) -> float:
    """Wang & Isola: log of the mean over pairs of exp(-2 |f(x) - f(y)|²) (lower: more uniform)."""
    return torch.log(torch.exp(-2 * torch.pdist(_unit(z)).pow(2)).mean()).item()


def _alignment(a: Tensor, b: Tensor) -> float:
    """Mean squared distance between the unit embeddings of positive pairs (lower: tighter)."""
    return (_unit(a) - _unit(b)).pow(2).sum(dim=1).mean().item()


def _entropy(a: Tensor, b: Tensor, tau: float) -> float:
    """Mean entropy (nats) of each anchor's softmax over the in-batch candidates at temperature τ."""
    logits = _unit(a) @ _unit(b).T / tau
    return -(logits.softmax(dim=1) * logits.log_softmax(dim=1)).sum(dim=1).mean().item()


def _pairs(ctx: suite.TopicContext, n_test: int) -> PairedEmbeddings:
    return paired_embeddings(PairedConfig(n_train=2048, n_test=n_test, **_HARD), ctx.generator())


def _train(data: PairedEmbeddings, tau: float, batch: int, steps: int, seed: int) -> nn.Module:
    """A linear encoder (input -> 16) trained with InfoNCE; same init and batches for every call."""
    encoder = mlp([data.train_a.shape[1], 16], torch.Generator().manual_seed(seed))
    batches = torch.Generator().manual_seed(seed + 1)
    loss_fn = suite.get("loss", "infonce")(temperature=tau)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    for _ in range(steps):
        idx = torch.randint(0, len(data.train_a), (batch,), generator=batches)
        loss = loss_fn(encoder(data.train_a[idx]), encoder(data.train_b[idx]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return encoder


class TemperatureTopic(_OneThread):
    """τ sets how peaked each anchor's softmax over the batch is. A small τ stretches cosine gaps
    into large logit gaps, so the distribution concentrates on the positive and the hardest
    negatives and the gradient pushes those apart: embeddings spread over the sphere (uniformity).
    A large τ flattens the softmax towards uniform over the batch; every negative is pushed about
    equally, positives still get pulled together (good alignment) but the space is used poorly and
    retrieval suffers. Too small a τ hurts too: the gradient rests on a few negatives and brief
    training is noisy. The useful τ lies in between (SimCSE uses one twentieth).

    Formula:
    p_ij = exp(s_ij / τ) / Σ_k exp(s_ik / τ),  s_ij = cos(a_i, p_j);  loss = -1/N Σ_i log p_ii
    entropy: dH(p_i)/d(1/τ) = -(1/τ) Var_{p_i}(s_i·) ≤ 0, so H rises with τ
    uniformity = log E_{x,y} exp(-2 |f(x) - f(y)|²);  alignment = E |f(a) - f(p)|²

    Pitfalls:
    - the logits are bounded by ±1/τ: with τ = 1 the softmax over many candidates cannot get
      confident whatever the encoder does.
    - the best τ depends on batch size, data and learning rate; CLIP learns τ (clamped).
    - a lower loss at a smaller τ is not a better model: losses at different τ are not comparable.

    Follow-up questions:
    - Why does CLIP learn τ, and why clamp it?
    - How does τ relate to hard-negative mining?
    - What is the alignment-uniformity trade-off?
    """

    name = "infonce-temperature"
    area = "contrastive"
    question = "What does the temperature in InfoNCE do, and how do you pick it?"
    components = ("loss:infonce",)

    def _measure(self, ctx: suite.TopicContext) -> suite.Evidence:
        data = _pairs(ctx, ctx.pick(1000, 400))
        steps, batch, seed = ctx.pick(150, 60), 128, ctx.seed * 7919 + 11
        table, views = [], {}
        for tau in _TAUS:
            encoder = _train(data, tau, batch, steps, seed)
            with torch.no_grad():
                za, zb = encoder(data.test_a), encoder(data.test_b)
            views[tau] = (za[:batch], zb[:batch])
            table.append(
                {"tau": tau, "retrieval_top1": _top1(za, zb), "uniformity": _uniformity(za),
                 "alignment": _alignment(za, zb), "entropy_own_tau": _entropy(*views[tau], tau)}
            )  # fmt: skip
        top1, uni, ali = (
            [row[k] for row in table] for k in ("retrieval_top1", "uniformity", "alignment")
        )
        iu = min(range(len(_TAUS)), key=uni.__getitem__)  # the most uniform τ
        ir = max(range(len(_TAUS) - 1), key=top1.__getitem__)  # the best retrieval below τ = 1
        fixed = [_entropy(*views[_TAUS[iu]], tau) for tau in _TAUS]
        cap, t0, tu = math.log(batch), _TAUS[0], _TAUS[iu]
        claims = [
            suite.Claim.of(
                "on one fixed set of embeddings the mean softmax entropy over {b} in-batch "
                "candidates rises with τ, from {h0:.3g} nats at τ = {t0:.3g} to {h1:.3g} at "
                "τ = 1 (ceiling log B = {cap:.3g})",
                holds=_rising(fixed) and fixed[-1] <= cap,
                b=batch, h0=fixed[0], t0=t0, h1=fixed[-1], cap=cap,
            ),
            suite.Claim.of(
                "the most uniform embedding comes from a middle τ = {t:.3g} (uniformity "
                "{u:.3g}), not the ends of the grid (τ = {t0:.3g}: {u0:.3g}, τ = 1: {u1:.3g})",
                holds=0 < iu < len(_TAUS) - 1,
                t=tu, u=uni[iu], t0=t0, u0=uni[0], u1=uni[-1],
            ),
            suite.Claim.of(
                "τ = 1 pulls positives closer (alignment {a1:.3g}) than τ = {t:.3g} ({a:.3g}) "
                "but spreads them less: the alignment-uniformity trade-off",
                holds=ali[-1] < ali[iu],
                a1=ali[-1], t=tu, a=ali[iu],
            ),
            suite.Claim.of(
                "test retrieval among {n} candidates peaks below τ = 1: {r:.3g} at τ = {t:.3g} "
                "against {r1:.3g} at τ = 1",
                holds=top1[ir] > top1[-1],
                n=len(data.test_a), r=top1[ir], t=_TAUS[ir], r1=top1[-1],
            ),
        ]  # fmt: skip
        series = [
            suite.Series("retrieval top-1", list(_TAUS), top1, "τ", "top-1"),
            suite.Series("uniformity", list(_TAUS), uni, "τ", "uniformity loss"),
            suite.Series("entropy, fixed embeddings", list(_TAUS), fixed, "τ", "entropy (nats)"),
        ]
        note = (
            f"linear encoder 64->16, {steps} Adam steps of batch {batch} per τ, same init and "
            "batches, on two noisy views of a shared latent"
        )
        return suite.Evidence(table=table, claims=claims, series=series, note=note)


class BatchNegativesTopic(_OneThread):
    """With in-batch negatives the batch size is the number of candidates each anchor must beat:
    N - 1 negatives for free. More negatives make the task harder and the gradient more
    informative (more of the hard negatives show up), so after the same number of steps a model
    trained with larger batches retrieves better. The batch also caps what the loss can certify:
    the InfoNCE estimate of the mutual information, log N minus the loss, can never exceed
    log N, so with a small batch the bound saturates long before the representation is good.

    Formula:
    loss_N = -1/N Σ_i log [ exp(s_ii/τ) / Σ_j exp(s_ij/τ) ]  (j over the N in-batch candidates)
    I(a; p) ≥ log N - loss_N,  and loss_N ≥ 0, so the bound is at most log N

    Pitfalls:
    - gradient accumulation does not add negatives: each micro-batch sees only its own rows
      (use a memory bank, MoCo's queue, or gather embeddings across devices).
    - larger batches also mean more data per step; compare at equal steps and at equal examples.
    - bigger batches bring more false negatives (duplicates, paraphrases) into the denominator.
    - losses at different N are not comparable: the chance level log N moves.

    Follow-up questions:
    - How do MoCo and CLIP get tens of thousands of negatives?
    - Why does a queue of stale negatives need a momentum encoder?
    - How would you mine hard negatives, and what can go wrong?
    """

    name = "infonce-batch-negatives"
    area = "contrastive"
    question = "Why do contrastive models want huge batches?"
    components = ("loss:infonce",)

    def _measure(self, ctx: suite.TopicContext) -> suite.Evidence:
        data = _pairs(ctx, ctx.pick(1000, 400))
        sizes, steps, tau, seed = (8, 32, 128, 512), ctx.pick(150, 75), 0.1, ctx.seed * 7919 + 13
        loss_fn = suite.get("loss", "infonce")(temperature=tau)
        probe = torch.randperm(len(data.train_a), generator=ctx.generator(3))
        k, table = len(data.test_a), []
        for n in sizes:
            encoder = _train(data, tau, n, steps, seed)
            with torch.no_grad():
                za, zb = encoder(data.test_a), encoder(data.test_b)
                own = loss_fn(encoder(data.train_a[probe[:n]]), encoder(data.train_b[probe[:n]]))
                table.append(
                    {"batch": n, "retrieval_top1": _top1(za, zb), "log_batch": math.log(n),
                     "bound_held_out": math.log(k) - loss_fn(za, zb).item(),
                     "bound_at_batch": math.log(n) - own.item()}
                )  # fmt: skip
        top1, held, own_b, logn = (
            [row[key] for row in table]
            for key in ("retrieval_top1", "bound_held_out", "bound_at_batch", "log_batch")
        )
        claims = [
            suite.Claim.of(
                "after {s} steps, test retrieval among {k} candidates rises from {a0:.3g} with "
                "batch {n0} to {a1:.3g} with batch {n1}",
                holds=top1[-1] > top1[0] + 0.1,
                s=steps, k=k, a0=top1[0], n0=sizes[0], a1=top1[-1], n1=sizes[-1],
            ),
            suite.Claim.of(
                "the held-out bound log K - loss_K (K = {k}) grows with every step up in batch "
                "size, from {b0:.3g} to {b1:.3g} nats",
                holds=_rising(held),
                k=k, b0=held[0], b1=held[-1],
            ),
            suite.Claim.of(
                "measured at its own batch size the bound never passes log N (batch {n0}: "
                "{b:.3g} of at most {cap:.3g} nats), while the batch-{n1} encoder certifies "
                "{big:.3g} nats on held-out data",
                holds=all(b <= c for b, c in zip(own_b, logn, strict=True)) and held[-1] > logn[0],
                n0=sizes[0], b=own_b[0], cap=logn[0], n1=sizes[-1], big=held[-1],
            ),
        ]  # fmt: skip
        series = [
            suite.Series("retrieval top-1", list(sizes), top1, "batch size", "top-1"),
            suite.Series("held-out bound", list(sizes), held, "batch size", "nats", figure="bound"),
            suite.Series("log N", list(sizes), logn, "batch size", "nats", figure="bound"),
        ]
        note = (
            f"linear encoder 64->16, {steps} Adam steps at τ = {tau} per batch size, same init; "
            f"bounds from InfoNCE on {k} held-out pairs"
        )
        return suite.Evidence(table=table, claims=claims, series=series, note=note)


_VOCAB, _CLASSES, _LENGTH, _TOPIC_WORDS = 256, 8, 16, 20


def _sentences(n: int, topics: Tensor, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Bags of `_LENGTH` token ids (n, L) and their latent classes (n,): each token is one of
    the class's topic words with probability 2/5, else uniform over the vocabulary."""
    y = torch.randint(0, _CLASSES, (n,), generator=g)
    pick = torch.randint(0, _TOPIC_WORDS, (n, _LENGTH), generator=g)
    topical = topics[y][torch.arange(n)[:, None], pick]
    background = torch.randint(0, _VOCAB, (n, _LENGTH), generator=g)
    return torch.where(torch.rand(n, _LENGTH, generator=g) < 0.4, topical, background), y


class _BagEncoder(nn.Module):
    """Embedding bag -> MLP. Dropout drops token positions from the mean (as attention dropout
    drops attention weights) and hidden units, each with probability `p`."""

    def __init__(self, p: float, dim: int = 32) -> None:
        super().__init__()
        self.p = p
        self.embed = nn.Embedding(_VOCAB, dim)
        self.hidden = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(p)

    def forward(self, ids: Tensor) -> Tensor:
        keep = torch.ones((*ids.shape, 1))
        if self.training and self.p > 0:
            keep = (torch.rand(ids.shape) >= self.p).float()[..., None]
        pooled = (self.embed(ids) * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)
        return self.out(self.drop(torch.relu(self.hidden(pooled))))


def _auc(pos: Tensor, neg: Tensor) -> float:
    """P(a random `pos` score beats a random `neg` score), from ranks."""
    ranks = torch.cat([pos, neg]).argsort().argsort().double()
    n_pos, n_neg = len(pos), len(neg)
    return ((ranks[:n_pos].sum() - n_pos * (n_pos - 1) / 2) / (n_pos * n_neg)).item()


def _quality(encoder: nn.Module, ids: Tensor, y: Tensor, noisy: Tensor) -> tuple[float, float]:
    """Class AUC (same-class pairs above other pairs) and copy AUC (a sentence's noisy copy above
    the other sentences), by cosine of the eval-mode embeddings."""
    encoder.eval()
    with torch.no_grad():
        z, zn = _unit(encoder(ids)), _unit(encoder(noisy))
    encoder.train()
    sim, off = z @ z.T, ~torch.eye(len(ids), dtype=torch.bool)
    same, cross = (y[:, None] == y[None, :]) & off, z @ zn.T
    return _auc(sim[same], sim[~same & off]), _auc(cross.diagonal(), cross[off])


def _simcse(rate: float, topics: Tensor, test: tuple[Tensor, ...], steps: int, seed: int) -> dict:
    """Train a `_BagEncoder(rate)` with unsupervised SimCSE; its quality before and after."""
    torch.manual_seed(seed)  # same init and dropout stream for every rate
    encoder, data = _BagEncoder(rate), torch.Generator().manual_seed(seed + 17)
    class_0, copy_0 = _quality(encoder, *test)
    loss_fn = suite.get("loss", "infonce")(temperature=0.05)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=1e-2)
    gap = 0.0  # the largest 1 - cos between the two views of one sentence
    for _ in range(steps):
        ids = _sentences(64, topics, data)[0]
        a, b = encoder(ids), encoder(ids)  # two passes, two dropout masks
        gap = max(gap, (1 - (_unit(a) * _unit(b)).sum(dim=1)).abs().max().item())
        loss = loss_fn(a, b)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    class_1, copy_1 = _quality(encoder, *test)
    return {"dropout": rate, "final_loss": loss.item(), "max_1_minus_cos": gap,
            "class_auc_init": class_0, "class_auc": class_1, "copy_auc_init": copy_0,
            "copy_auc": copy_1}  # fmt: skip


class SimCSEDropoutTopic(_OneThread):
    """Unsupervised SimCSE feeds each sentence through the encoder twice; the two passes differ
    only in their dropout masks and form the positive pair, the other sentences of the batch are
    the negatives. Dropout is the data augmentation: to match two randomly thinned views the
    encoder must rely on what the whole sentence says, and words that co-occur end up close, so
    the embedding learns the sentence's topic. Without dropout the two views are the same vector,
    the positive term is constant, and the loss drops to nearly zero by merely spreading
    sentences apart: nothing is learned about which sentences belong together.

    Formula:
    h_i = f(x_i; mask), h_i' = f(x_i; mask')
    loss = -1/N Σ_i log [ exp(cos(h_i, h_i')/τ) / Σ_j exp(cos(h_i, h_j')/τ) ]
    with no dropout: cos(h_i, h_i') = 1 and loss = 1/N Σ_i log(1 + Σ_{j≠i} exp((s_ij - 1)/τ))

    Pitfalls:
    - using the same dropout mask for both passes is as bad as none: the views must differ.
    - a near-zero training loss is not a good model: judge on a downstream metric.
    - the dropout rate is a hyper-parameter of the augmentation (SimCSE keeps BERT's one tenth);
      a tiny encoder needs more noise.
    - in-batch duplicates and same-topic sentences are pushed apart as negatives.

    Follow-up questions:
    - How does supervised SimCSE use NLI pairs and hard negatives?
    - Why do discrete augmentations (deletion, synonym swap) do worse than dropout for text?
    - What do alignment and uniformity look like for SimCSE versus raw BERT embeddings?
    """

    name = "simcse-dropout-views"
    area = "contrastive"
    question = "How does unsupervised SimCSE get positive pairs, and what happens without dropout?"
    components = ("loss:infonce",)

    def _measure(self, ctx: suite.TopicContext) -> suite.Evidence:
        g, p, steps = ctx.generator(), 0.3, ctx.pick(150, 75)
        topics = torch.stack(
            [torch.randperm(_VOCAB, generator=g)[:_TOPIC_WORDS] for _ in range(_CLASSES)]
        )
        ids, y = _sentences(ctx.pick(600, 300), topics, g)
        swapped = torch.rand(ids.shape, generator=g) < 0.3  # the noisy copy replaces these tokens
        noisy = torch.where(swapped, torch.randint(0, _VOCAB, ids.shape, generator=g), ids)
        none, drop = (_simcse(r, topics, (ids, y, noisy), steps, ctx.seed) for r in (0.0, p))
        claims = [
            suite.Claim.of(
                "without dropout the two views are one vector (max 1 - cos over training "
                "{gap:.2g}) and the loss falls to {l0:.3g}, against {l1:.3g} with dropout {p:.2g}",
                holds=none["max_1_minus_cos"] < 1e-5 and none["final_loss"] < drop["final_loss"] / 10,
                gap=none["max_1_minus_cos"], l0=none["final_loss"], l1=drop["final_loss"], p=p,
            ),
            suite.Claim.of(
                "with dropout the embedding learns the latent class: same-class pairs outrank "
                "other pairs with probability {a1:.3g}, up from {a0:.3g} at init",
                holds=drop["class_auc"] > drop["class_auc_init"] + 0.1,
                a1=drop["class_auc"], a0=drop["class_auc_init"],
            ),
            suite.Claim.of(
                "without dropout it barely does: class AUC {n1:.3g} from {n0:.3g} at init, "
                "below the dropout run's {a1:.3g}",
                holds=none["class_auc"] < none["class_auc_init"] + 0.1
                and drop["class_auc"] > none["class_auc"] + 0.05,
                n1=none["class_auc"], n0=none["class_auc_init"], a1=drop["class_auc"],
            ),
            suite.Claim.of(
                "with dropout a noisy copy outranks other sentences with probability {c1:.3g}, "
                "up from {c0:.3g} at init",
                holds=drop["copy_auc"] > drop["copy_auc_init"],
                c1=drop["copy_auc"], c0=drop["copy_auc_init"],
            ),
        ]  # fmt: skip
        note = (
            f"bag-of-tokens encoder (vocab {_VOCAB}, {_CLASSES} latent classes), {steps} Adam "
            f"steps of batch 64, τ = 1/20; {len(ids)} test sentences and their noisy copies"
        )
        return suite.Evidence(table=[none, drop], claims=claims, note=note)


TOPICS: tuple[type[suite.Topic], ...] = (TemperatureTopic, BatchNegativesTopic, SimCSEDropoutTopic)
