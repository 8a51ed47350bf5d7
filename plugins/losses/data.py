"""Seeded synthetic tasks on which the losses are trained and scored, one per loss `task`.

Each task is generated from a `torch.Generator`, so every loss sees the same data and starts from
the same weights; the only thing that changes between two cells is the loss. The tasks are
small enough to train on a CPU in about a second, and hard enough that the metrics are not 1.0.

* `imbalanced_classification`: two Gaussian classes in `dim` dimensions, the positive one rare
  (1 in `imbalance`), its mean offset along a hidden direction and its spread wider, so that a
  small MLP separates them only partially.
* `paired_embeddings`: two noisy "views" of the same latent vector (a shared signal plus
  view-specific nuisance with large variance), the setting of SimCSE's two dropout passes.
* `preference_pairs`: items with a hidden true reward; each pair is labelled by a simulated
  annotator who prefers the better item with Bradley-Terry probability σ(β·Δr), so labels are noisy.
* `lm_head_inputs`: one batch of a language model's head, hidden states, output matrix and next
  tokens (some of them padding), for the `lm-head` losses' memory and agreement checks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "ClassificationData",
    "ImbalancedConfig",
    "PairedConfig",
    "PairedEmbeddings",
    "PreferenceConfig",
    "PreferencePairs",
    "imbalanced_classification",
    "lm_head_inputs",
    "mlp",
    "paired_embeddings",
    "preference_pairs",
]


# --------------------------------------------------------------------------- classification


@dataclass
class ImbalancedConfig:
    imbalance: int = 50  # one positive in `imbalance` examples
    n_train: int = 5000  # training rows (100 positives at 1 in 50)
    n_test: int = 20000  # held-out rows (400 positives at 1 in 50)
    dim: int = 16  # feature dimension
    separation: float = (
        2.0  # distance of the positive mean from the origin along a hidden direction
    )
    positive_spread: float = 1.5  # standard deviation of the positive class (negatives: 1)


@dataclass
class ClassificationData:
    x_train: Tensor  # (n_train, dim)
    y_train: Tensor  # (n_train,) int64 in {0, 1}; 1 is the rare class
    x_test: Tensor  # (n_test, dim)
    y_test: Tensor  # (n_test,)


def imbalanced_classification(
    config: ImbalancedConfig, generator: torch.Generator
) -> ClassificationData:
    """Binary data, the positive class rare; exactly `n // imbalance` positives in each split."""
    direction = torch.randn(config.dim, generator=generator)
    direction = direction / direction.norm()  # (dim,)

    def split(n: int) -> tuple[Tensor, Tensor]:
        n_pos = max(n // config.imbalance, 1)
        y = torch.zeros(n, dtype=torch.long)
        y[:n_pos] = 1
        x = torch.randn(n, config.dim, generator=generator)  # (n, dim)
        x[:n_pos] = x[:n_pos] * config.positive_spread + config.separation * direction
        order = torch.randperm(n, generator=generator)
        return x[order], y[order]

    x_train, y_train = split(config.n_train)
    x_test, y_test = split(config.n_test)
    return ClassificationData(x_train, y_train, x_test, y_test)


def mlp(sizes: list[int], generator: torch.Generator) -> nn.Sequential:
    """Linear layers with ReLU between them, initialised from `generator` (same weights every time)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layer = nn.Linear(fan_in, fan_out)
        bound = 1.0 / fan_in**0.5  # PyTorch's default uniform bound, drawn from our generator
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- contrastive


@dataclass
class PairedConfig:
    n_train: int = 4096  # training pairs
    n_test: int = 1000  # held-out pairs; each anchor's positive hides among n_test candidates
    input_dim: int = 64  # observed feature dimension
    latent_dim: int = 16  # dimension of the shared signal both views carry
    nuisance_dim: int = 16  # dimension of the view-specific nuisance
    nuisance_scale: float = 2.0  # nuisance standard deviation (signal: 1)
    noise: float = 0.3  # isotropic observation noise


@dataclass
class PairedEmbeddings:
    train_a: Tensor  # (n_train, input_dim): first view
    train_b: Tensor  # (n_train, input_dim): second view of the same latent
    test_a: Tensor  # (n_test, input_dim)
    test_b: Tensor  # (n_test, input_dim)


def paired_embeddings(config: PairedConfig, generator: torch.Generator) -> PairedEmbeddings:
    """x = A z + B s + σ ε per view: z shared by the two views, s and ε drawn per view."""
    mixing = (
        torch.randn(config.latent_dim, config.input_dim, generator=generator)
        / config.latent_dim**0.5
    )
    nuisance = (
        torch.randn(config.nuisance_dim, config.input_dim, generator=generator)
        / config.nuisance_dim**0.5
    )

    def views(n: int) -> tuple[Tensor, Tensor]:
        z = torch.randn(n, config.latent_dim, generator=generator) @ mixing  # (n, input_dim)

        def view() -> Tensor:
            s = torch.randn(n, config.nuisance_dim, generator=generator) * config.nuisance_scale
            return (
                z
                + s @ nuisance
                + config.noise * torch.randn(n, config.input_dim, generator=generator)
            )

        return view(), view()

    train_a, train_b = views(config.n_train)
    test_a, test_b = views(config.n_test)
    return PairedEmbeddings(train_a, train_b, test_a, test_b)


# --------------------------------------------------------------------------- ranking


@dataclass
class PreferenceConfig:
    n_train: int = 4000  # labelled training pairs
    n_test: int = 4000  # held-out pairs
    dim: int = 16  # item feature dimension
    beta: float = 2.0  # annotator sharpness: P(prefer a) = σ(β (r(a) - r(b))); larger = less noise
    curvature: float = (
        0.5  # weight of a quadratic term in the true reward (a linear model misses it)
    )


@dataclass
class PreferencePairs:
    train_chosen: Tensor  # (n_train, dim): the item the annotator preferred
    train_rejected: Tensor  # (n_train, dim)
    test_chosen: Tensor  # (n_test, dim)
    test_rejected: Tensor  # (n_test, dim)
    test_true_margin: Tensor  # (n_test,): r*(chosen) - r*(rejected) under the hidden reward


def preference_pairs(config: PreferenceConfig, generator: torch.Generator) -> PreferencePairs:
    """Pairs of items ordered by a noisy annotator of the hidden reward r*(x) = w·x + c·(u·x)²."""
    w = torch.randn(config.dim, generator=generator) / config.dim**0.5
    u = torch.randn(config.dim, generator=generator) / config.dim**0.5

    def reward(x: Tensor) -> Tensor:
        return x @ w + config.curvature * (x @ u) ** 2

    def pairs(n: int) -> tuple[Tensor, Tensor, Tensor]:
        first = torch.randn(n, config.dim, generator=generator)
        second = torch.randn(n, config.dim, generator=generator)
        margin = reward(first) - reward(second)  # (n,)
        first_wins = torch.rand(n, generator=generator) < torch.sigmoid(config.beta * margin)
        chosen = torch.where(first_wins[:, None], first, second)
        rejected = torch.where(first_wins[:, None], second, first)
        return chosen, rejected, reward(chosen) - reward(rejected)

    train_chosen, train_rejected, _ = pairs(config.n_train)
    test_chosen, test_rejected, test_margin = pairs(config.n_test)
    return PreferencePairs(train_chosen, train_rejected, test_chosen, test_rejected, test_margin)


# --------------------------------------------------------------------------- lm-head


def lm_head_inputs(
    tokens: int,
    hidden_size: int,
    vocab_size: int,
    generator: torch.Generator,
    *,
    ignore_index: int | None = -100,
    padded_share: float = 0.1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor, Tensor]:
    """hidden `(N, D)`, weight `(V, D)`, target `(N,)`: logits `hidden @ weight.T` of unit scale
    (weight ~ N(0, 1/D), as an initialised head), targets uniform over the vocabulary, and
    about `padded_share` of them `ignore_index` (never the first: one real target remains)."""
    hidden = torch.randn(tokens, hidden_size, generator=generator)  # (N, D)
    weight = torch.randn(vocab_size, hidden_size, generator=generator) / hidden_size**0.5  # (V, D)
    target = torch.randint(0, vocab_size, (tokens,), generator=generator)  # (N,)
    if ignore_index is not None and padded_share > 0:
        padded = torch.rand(tokens, generator=generator) < padded_share
        padded[0] = False
        target[padded] = ignore_index
    return hidden.to(device, dtype), weight.to(device, dtype), target.to(device)
