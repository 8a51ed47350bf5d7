"""A tiny classifier on `suite.nn`, two related synthetic tasks, and the train/evaluate loops the benchmarks share.

Tokens fall into `groups` classes by `id % groups`. Task `pretrain`: which group is most
frequent in the sequence. Task `finetune`: the same question counting only the upper half of
the vocabulary (ids ≥ V/2): the pretrained encoder already counts groups, and has to learn to
weigh tokens differently — a related task, as a pretrained LM and a downstream task are.
Sequences are drawn with a random dominant group so that both labels are learnable.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite.kinds import Attention
from suite.nn import EncoderConfig, TransformerEncoder

__all__ = [
    "Classifier",
    "TaskConfig",
    "evaluate",
    "make_batch",
    "pretrained_classifier",
    "train",
]


@dataclass(frozen=True)
class TaskConfig:
    vocab_size: int = 16
    groups: int = 4  # classes: token group id % groups
    seq_len: int = 16
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_hidden: int = 64


class Classifier(nn.Module):
    """`suite.nn.TransformerEncoder`, mean over real tokens, a linear head: ids -> logits (B, K)."""

    def __init__(self, encoder: nn.Module, d_model: int, classes: int) -> None:
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(d_model, classes)

    def forward(self, ids: Tensor) -> Tensor:
        hidden = self.encoder(ids)  # (B, T, C)
        return self.head(hidden.mean(dim=1))  # (B, K)


def make_batch(
    task: str, batch: int, config: TaskConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """ids `(B, T)` and labels `(B,)` of `task` ("pretrain" or "finetune")."""
    v, k, t = config.vocab_size, config.groups, config.seq_len
    dominant = torch.randint(0, k, (batch, 1), generator=generator)
    weights = torch.ones(batch, v)
    ids_group = torch.arange(v) % k  # (V,)
    weights[ids_group[None, :] == dominant] = 2.5  # the dominant group's tokens are likelier
    ids = torch.multinomial(weights, t, replacement=True, generator=generator)  # (B, T)
    counted = ids if task == "pretrain" else torch.where(ids >= v // 2, ids, -1)
    counts = torch.stack([((counted % k == g) & (counted >= 0)).sum(1) for g in range(k)], 1)
    labels = counts.argmax(dim=1)  # ties: the lowest group
    return ids, labels


def build_classifier(config: TaskConfig, attention: type[Attention]) -> Classifier:
    encoder = TransformerEncoder(
        EncoderConfig(
            vocab_size=config.vocab_size,
            max_len=config.seq_len + 16,  # room for a prompt of up to 16 vectors
            d_model=config.d_model,
            n_heads=config.n_heads,
            n_layers=config.n_layers,
            d_hidden=config.d_hidden,
        ),
        attention,
    )
    return Classifier(encoder, config.d_model, config.groups)


def train(
    model: nn.Module,
    task: str,
    config: TaskConfig,
    *,
    steps: int,
    lr: float,
    batch: int,
    generator: torch.Generator,
    device: torch.device,
) -> Callable[[], None]:
    """Adam on the parameters with `requires_grad` for `steps` steps; returns one more step
    as a callable (for timing)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        ids, labels = make_batch(task, batch, config, generator)
        loss = loss_fn(model(ids.to(device)), labels.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for _ in range(steps):
        step()
    return step


def evaluate(
    model: nn.Module,
    task: str,
    config: TaskConfig,
    n: int,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Predictions and labels on `n` fresh examples of `task`."""
    ids, labels = make_batch(task, n, config, generator)
    model.eval()
    with torch.no_grad():
        predictions = model(ids.to(device)).argmax(dim=1).cpu()
    return predictions, labels


_PRETRAINED: dict[tuple[object, ...], Classifier] = {}


def pretrained_classifier(
    config: TaskConfig,
    attention: type[Attention],
    *,
    steps: int,
    seed: int,
    device: torch.device,
) -> Classifier:
    """A copy of the classifier trained on `pretrain` (trained once per process and settings)."""
    key = (config, attention, steps, seed, str(device))
    if key not in _PRETRAINED:
        torch.manual_seed(seed)
        model = build_classifier(config, attention).to(device)
        started = time.perf_counter()
        train(
            model,
            "pretrain",
            config,
            steps=steps,
            lr=3e-3,
            batch=64,
            generator=torch.Generator().manual_seed(seed),
            device=device,
        )
        model.pretrain_seconds = time.perf_counter() - started  # type: ignore[assignment]
        _PRETRAINED[key] = model
    return copy.deepcopy(_PRETRAINED[key])
