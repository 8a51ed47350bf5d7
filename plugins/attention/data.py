"""ListOps, generated on the fly: a long-range task in the spirit of Long Range Arena (Tay et al., 2020).

A sequence is a nested prefix expression over digits, `[MAX 4 3 [MIN 2 3 ] 1 0 [MED 1 5 8 9 2 ] ]`,
and the label is its value (0-9). Solving it means matching brackets and carrying values across
the whole sequence: a local window alone cannot see an operator's far arguments, which is what
makes the task a test of long-range attention. Operators: MIN, MAX, MED (lower median, so the
value stays a digit) and SM (sum modulo 10).

Everything is seeded (`random.Random(seed)`), so every attention component trains on the same
sequences from the same initial weights; only the attention core differs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite.kinds import Attention
from suite.nn import EncoderConfig, TransformerEncoder
from suite.threads import single_thread

__all__ = ["VOCAB", "ListOpsConfig", "evaluate", "generate_listops", "tokenize", "train_and_score"]

OPERATORS = ("MIN", "MAX", "MED", "SM")
VOCAB: tuple[str, ...] = (
    "<pad>",
    *(str(d) for d in range(10)),
    *(f"[{op}" for op in OPERATORS),
    "]",
)
_IDS = {token: i for i, token in enumerate(VOCAB)}
PAD_ID = 0


@dataclass
class ListOpsConfig:
    """Data, model and training sizes for one run; the defaults are the quick CPU version."""

    n_train: int = 256  # training sequences
    n_test: int = 256  # held-out sequences
    min_len: int = 16  # shortest sequence, in tokens
    max_len: int = 48  # longest sequence, in tokens
    max_depth: int = 3  # nesting depth of operators
    max_args: int = 5  # arguments per operator
    steps: int = 60  # optimiser steps
    batch_size: int = 32
    lr: float = 3e-3
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    seed: int = 0
    single_thread_on_cpu: bool = True  # tiny matmuls: thread hand-offs cost more than they save


def _expression(
    rng: random.Random, depth: int, max_depth: int, max_args: int
) -> tuple[list[str], int]:
    """Tokens and value of one random expression; deeper levels are likelier to be digits."""
    if depth >= max_depth or (depth > 0 and rng.random() < 0.3 + 0.1 * depth):
        digit = rng.randrange(10)
        return [str(digit)], digit
    op = rng.choice(OPERATORS)
    tokens, values = [f"[{op}"], []
    for _ in range(rng.randint(2, max_args)):
        sub_tokens, sub_value = _expression(rng, depth + 1, max_depth, max_args)
        tokens += sub_tokens
        values.append(sub_value)
    tokens.append("]")
    return tokens, _apply(op, values)


def _apply(op: str, values: list[int]) -> int:
    if op == "MIN":
        return min(values)
    if op == "MAX":
        return max(values)
    if op == "MED":
        return sorted(values)[(len(values) - 1) // 2]
    return sum(values) % 10  # SM


def generate_listops(
    n: int,
    *,
    seed: int,
    min_len: int = 16,
    max_len: int = 64,
    max_depth: int = 3,
    max_args: int = 5,
) -> list[tuple[list[str], int]]:
    """`n` seeded (tokens, value) pairs whose lengths lie in `[min_len, max_len]`."""
    if min_len > max_len:
        raise ValueError(f"min_len ({min_len}) must be <= max_len ({max_len})")
    rng = random.Random(seed)
    out: list[tuple[list[str], int]] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 1000:
            raise ValueError(
                f"cannot generate expressions of {min_len}-{max_len} tokens at depth {max_depth}"
            )
        tokens, value = _expression(rng, 0, max_depth, max_args)
        if min_len <= len(tokens) <= max_len:
            out.append((tokens, value))
    return out


def tokenize(samples: list[tuple[list[str], int]], length: int) -> tuple[Tensor, Tensor, Tensor]:
    """ids `(N, length)` right-padded with 0, key padding mask `(N, length)`, labels `(N,)`."""
    ids = torch.full((len(samples), length), PAD_ID, dtype=torch.long)
    for row, (tokens, _) in enumerate(samples):
        ids[row, : len(tokens)] = torch.tensor([_IDS[t] for t in tokens])
    labels = torch.tensor([value for _, value in samples])
    return ids, ids != PAD_ID, labels


class ListOpsClassifier(nn.Module):
    """Encoder, mean-pooling over real tokens, linear head to the 10 values."""

    def __init__(self, config: ListOpsConfig, attention: Attention) -> None:
        super().__init__()
        encoder_config = EncoderConfig(
            vocab_size=len(VOCAB),
            max_len=config.max_len,
            d_model=config.d_model,
            n_heads=config.n_heads,
            n_layers=config.n_layers,
            d_hidden=2 * config.d_model,
        )
        self.encoder = TransformerEncoder(encoder_config, attention)
        self.head = nn.Linear(config.d_model, 10)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        hidden = self.encoder(ids, mask)  # (B, T, C)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        return self.head(pooled)  # (B, 10)


@torch.no_grad()
def evaluate(
    model: nn.Module, ids: Tensor, mask: Tensor, labels: Tensor, batch_size: int = 256
) -> dict[str, float]:
    """Accuracy, macro F1 and the rest of `suite.metrics.classification_report` on a split."""
    from suite.metrics import classification_report  # scikit-learn: loaded when a cell needs it

    model.eval()
    logits = torch.cat(
        [
            model(ids[i : i + batch_size], mask[i : i + batch_size])
            for i in range(0, len(ids), batch_size)
        ]
    )
    return classification_report(labels.cpu(), logits.float().cpu(), num_classes=10)


def train_and_score(
    attention: Attention,
    config: ListOpsConfig,
    device: torch.device,
    *,
    loss_curve: list[float] | None = None,
) -> dict[str, float]:
    """Train a small classifier with `attention` and score it on held-out expressions.

    `loss_curve`, when given, receives the training loss of every step.
    """
    data = generate_listops(
        config.n_train + config.n_test,
        seed=config.seed,
        min_len=config.min_len,
        max_len=config.max_len,
        max_depth=config.max_depth,
        max_args=config.max_args,
    )
    ids, mask, labels = (t.to(device) for t in tokenize(data, config.max_len))
    train = slice(0, config.n_train)
    test = slice(config.n_train, None)
    torch.manual_seed(config.seed)  # same initial weights whatever the attention
    model = ListOpsClassifier(config, attention).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    batches = torch.Generator().manual_seed(config.seed + 1)
    loss = torch.zeros(())
    # a toy model's ops are too small to share between threads
    with single_thread(enabled=device.type == "cpu" and config.single_thread_on_cpu):
        start = time.perf_counter()
        model.train()
        for _ in range(config.steps):
            pick = torch.randint(0, config.n_train, (config.batch_size,), generator=batches).to(
                device
            )
            logits = model(ids[train][pick], mask[train][pick])
            loss = nn.functional.cross_entropy(logits, labels[train][pick])
            if loss_curve is not None:
                loss_curve.append(float(loss.detach()))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        train_seconds = time.perf_counter() - start
        report = evaluate(model, ids[test], mask[test], labels[test])
    majority = float((labels[test] == labels[train].mode().values).float().mean())
    return {
        "accuracy": report["accuracy"],
        "f1_macro": report["f1_macro"],
        "majority_accuracy": majority,
        "final_train_loss": float(loss.detach()),
        "train_seconds": train_seconds,
    }
