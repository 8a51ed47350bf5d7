"""A small generated task where experts can specialise, and the short training loop the benchmarks share.

The task: a mixture of clusters. Cluster c has a centre `μ_c` and its own labelling rule
`R_c` `(d_input, n_classes)`; a point is `x = μ_c + z` with `z ~ N(0, I)` and label
`argmax(z · R_c)`. The rule is linear *within* a cluster but differs across clusters, so one
narrow FFN has to approximate E different rules at once, while an MoE whose router sends each
cluster to its own experts can give each expert one rule. That is the case for MoE in miniature:
more parameters, same compute per token, and a router that learns a partition of the input.

The model wrapped around a component: `h = W_in x`; `h = h + layer(h).output` (a residual
block, so a dropped token still carries `h`); `logits = W_head h`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from suite.kinds import MoE, MoEOutput
from suite.threads import single_thread

__all__ = [
    "ClusterTask",
    "ClusterTaskConfig",
    "MoEClassifier",
    "TrainConfig",
    "evaluate",
    "make_cluster_task",
    "train_classifier",
]


@dataclass
class ClusterTaskConfig:
    """Size of the mixture-of-clusters classification task."""

    n_clusters: int = 8  # mixture components; one natural expert each
    n_classes: int = 4  # labels, balanced within every cluster in expectation
    d_input: int = 16  # feature dimension
    spread: float = 4.0  # std of the cluster centres, in units of the within-cluster noise
    n_train: int = 4096  # training points
    n_test: int = 2048  # held-out points


@dataclass
class ClusterTask:
    """Generated data: features `(N, d_input)` float32, labels and cluster ids `(N,)` int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    cluster_test: Tensor


def make_cluster_task(config: ClusterTaskConfig, generator: torch.Generator) -> ClusterTask:
    """Draw centres, per-cluster rules and points from `generator` (CPU tensors)."""
    centres = torch.randn(config.n_clusters, config.d_input, generator=generator) * config.spread
    rules = torch.randn(config.n_clusters, config.d_input, config.n_classes, generator=generator)

    def draw(n: int) -> tuple[Tensor, Tensor, Tensor]:
        cluster = torch.randint(config.n_clusters, (n,), generator=generator)  # (n,)
        offset = torch.randn(n, config.d_input, generator=generator)  # (n, d)
        label = torch.einsum("nd,ndk->nk", offset, rules[cluster]).argmax(dim=-1)  # (n,)
        return centres[cluster] + offset, label, cluster

    x_train, y_train, _ = draw(config.n_train)
    x_test, y_test, cluster_test = draw(config.n_test)
    return ClusterTask(x_train, y_train, x_test, y_test, cluster_test)


class MoEClassifier(nn.Module):
    """Input projection, one residual FFN/MoE block, linear head."""

    def __init__(self, layer: nn.Module, d_input: int, d_model: int, n_classes: int) -> None:
        super().__init__()
        self.embed = nn.Linear(d_input, d_model)
        self.layer = layer
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, MoEOutput]:
        """`x` `(B, T, d_input)` -> logits `(B, T, n_classes)` and the block's `MoEOutput`."""
        h = self.embed(x)  # (B, T, d_model)
        routed = self.layer(h)
        return self.head(h + routed.output), routed


@dataclass
class TrainConfig:
    """A short, CPU-sized training run."""

    d_model: int = 32  # width of the residual stream
    d_hidden: int = 16  # hidden size of one expert (dense reference: top_k * d_hidden)
    n_experts: int = 8  # experts
    top_k: int = 2  # experts per token
    steps: int = 150  # optimiser steps
    batch_tokens: int = 512  # points per step, fed as (8, batch_tokens / 8, d_input)
    lr: float = 1e-2  # Adam learning rate
    use_aux_loss: bool = True  # add the layer's aux_loss (load balancing + z-loss) to the task loss


def train_classifier(
    component: type[MoE],
    task: ClusterTask,
    config: TrainConfig,
    *,
    n_classes: int,
    device: torch.device,
    seed: int,
    loss_curve: list[float] | None = None,
) -> MoEClassifier:
    """Build the component inside a classifier and train it on `task` for `config.steps` steps.

    `loss_curve`, when given, receives the task loss (without `aux_loss`) of every step.
    """
    torch.manual_seed(seed)
    layer = component().build(config.d_model, config.d_hidden, config.n_experts, config.top_k)
    model = MoEClassifier(layer, task.x_train.shape[1], config.d_model, n_classes).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    x_train, y_train = task.x_train.to(device), task.y_train.to(device)
    order = torch.Generator().manual_seed(seed)
    model.train()
    with single_thread(enabled=device.type == "cpu"):
        _train_steps(model, optimiser, x_train, y_train, config, n_classes, order, loss_curve)
    model.eval()
    return model


def _train_steps(
    model: MoEClassifier,
    optimiser: torch.optim.Optimizer,
    x_train: Tensor,
    y_train: Tensor,
    config: TrainConfig,
    n_classes: int,
    order: torch.Generator,
    loss_curve: list[float] | None = None,
) -> None:
    device = x_train.device
    for _ in range(config.steps):
        pick = torch.randint(x_train.shape[0], (config.batch_tokens,), generator=order).to(device)
        logits, routed = model(x_train[pick].reshape(8, -1, x_train.shape[1]))  # (8, T, n_classes)
        loss = F.cross_entropy(logits.reshape(-1, n_classes), y_train[pick])
        if loss_curve is not None:
            loss_curve.append(float(loss.detach()))
        if config.use_aux_loss:
            loss = loss + routed.aux_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()


@torch.no_grad()
def evaluate(model: MoEClassifier, x: Tensor) -> tuple[Tensor, MoEOutput]:
    """Logits `(N, n_classes)` and the block's output for the points `x` `(N, d_input)`."""
    with single_thread(enabled=x.device.type == "cpu"):
        logits, routed = model(x.unsqueeze(0))  # (1, N, n_classes)
    return logits.squeeze(0), routed
