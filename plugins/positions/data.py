"""A synthetic task that needs positions, and the small model the benchmarks and topics train on it.

"Copy the token k places back": the input is uniform random tokens, the target at position t
is the input at t − k (positions t < k are not scored). Nothing about the content tells which
token is k back, so a model without usable position information is at chance (1/vocab), and a
model that learned "k back" from offsets keeps its accuracy on longer inputs while one that
learned absolute positions loses it past the training length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import suite
from suite.nn import EncoderConfig, TransformerEncoder

__all__ = ["IGNORE", "CopyBackTask", "PositionProbe", "accuracy", "train_probe"]

IGNORE = -100  # target id of unscored positions


@dataclass(frozen=True)
class CopyBackTask:
    """Random tokens in [0, vocab); target at t is the token at t − offset."""

    vocab: int = 16
    offset: int = 2

    def batch(
        self, batch_size: int, length: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """`(ids, targets)`, both long `(B, T)`; targets are `IGNORE` for t < offset."""
        ids = torch.randint(0, self.vocab, (batch_size, length), generator=generator)
        targets = torch.full_like(ids, IGNORE)
        targets[:, self.offset :] = ids[:, : length - self.offset]
        return ids, targets

    @property
    def chance(self) -> float:
        return 1.0 / self.vocab


class PositionProbe(nn.Module):
    """A causal `TransformerEncoder` with a positional encoding and a linear head over the vocabulary."""

    def __init__(
        self,
        position: type[suite.PositionalEncoding] | suite.PositionalEncoding,
        attention: type[suite.Attention] | suite.Attention,
        *,
        vocab: int,
        max_len: int,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
    ) -> None:
        super().__init__()
        config = EncoderConfig(
            vocab_size=vocab,
            max_len=max_len,
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
            d_hidden=2 * d_model,
            causal=True,
        )
        self.encoder = TransformerEncoder(config, attention, position)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.encoder(ids))  # (B, T, V)


def train_probe(
    model: PositionProbe,
    task: CopyBackTask,
    *,
    steps: int,
    length: int,
    batch_size: int,
    generator: torch.Generator,
    lr: float = 3e-3,
    device: torch.device | str = "cpu",
) -> float:
    """Train with AdamW on fresh batches of `length`; returns the last loss."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        ids, targets = (t.to(device) for t in task.batch(batch_size, length, generator))
        logits = model(ids)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    model.eval()
    return float(loss.detach())


@torch.no_grad()
def accuracy(
    model: PositionProbe,
    task: CopyBackTask,
    length: int,
    *,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> float:
    """Share of scored positions whose argmax is the token `offset` places back."""
    model.eval()
    ids, targets = (t.to(device) for t in task.batch(batch_size, length, generator))
    predicted = model(ids).argmax(dim=-1)
    scored = targets != IGNORE
    return float((predicted == targets)[scored].float().mean())
