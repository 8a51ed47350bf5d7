"""`nlpsuite practice position` writes a RoPE scaffold: unfilled it fails as "not implemented
yet", filled with a rotate-half RoPE it passes every property; `check position:NAME` works."""

from __future__ import annotations

from pathlib import Path

from suite.cli import main
from suite.commands.practice import write_practice
from suite.testing import check_component, load_target

PLACEHOLDER = 'raise NotImplementedError("write rotate(): turn q and k by angles proportional to their positions")'
SOLUTION = """import torch

        theta = self.base ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)

        def turn(x, p):
            angle = p.double()[:, None, :, None] * theta
            angle = torch.cat([angle, angle], -1)
            half = x.shape[-1] // 2
            rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
            return (x.double() * angle.cos() + rotated.double() * angle.sin()).to(x.dtype)

        return turn(q, positions_q), turn(k, positions_k)"""


def test_unfilled_position_scaffold_fails_as_not_implemented(tmp_path: Path) -> None:
    path = write_practice("position", out=tmp_path / "my_position.py")
    (cls,) = load_target(str(path)).components
    assert cls.reference == "hf-rope"
    report = check_component(cls, max_examples=3, timing=False)
    failed = [r for r in report.results if r.status == "failed"]
    assert failed and all("not implemented yet" in r.message for r in failed)


def test_filled_position_scaffold_passes(tmp_path: Path) -> None:
    path = write_practice("position", out=tmp_path / "solved_position.py")
    text = path.read_text()
    assert PLACEHOLDER in text
    path.write_text(text.replace(PLACEHOLDER, SOLUTION))
    (cls,) = load_target(str(path)).components
    report = check_component(cls, max_examples=8, timing=False)
    assert report.ok, [(r.property_id, r.message) for r in report.results if not r.ok]
    assert report.result("position.reference-agreement").status == "passed"


def test_check_accepts_position_kind_name() -> None:
    assert main(["check", "position:alibi", "--examples", "5"]) == 0
