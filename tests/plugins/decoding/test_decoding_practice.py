"""`nlpsuite practice decoding` writes a sampler scaffold: unfilled it fails as "not implemented
yet", filled with a top-k / top-p sampler it passes every property; `check decoding:NAME` works."""

from __future__ import annotations

from pathlib import Path

from suite.cli import main
from suite.commands.practice import write_practice
from suite.testing import check_component, load_target

PLACEHOLDER = 'raise NotImplementedError("write decode(): filter the logits, sample with the generator, stop at EOS")'
SOLUTION = """out, cache = input_ids, None
        unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool)
        for _ in range(max_new_tokens):
            if cache is None or not self.use_cache:
                logits, cache = model(out, None)
            else:
                logits, cache = model(out[:, -1:], cache)
            z = logits[:, -1].float() / self.temperature
            if self.top_k:
                kth = z.topk(min(self.top_k, z.shape[-1])).values[:, -1:]
                z = z.masked_fill(z < kth, float("-inf"))
            if self.top_p is not None and self.top_p < 1:
                ordered, order = z.sort(descending=True)
                probs = ordered.softmax(-1)
                drop = probs.cumsum(-1) - probs >= self.top_p
                drop[:, 0] = False
                z = z.masked_fill(drop.scatter(1, order, drop), float("-inf"))
            token = torch.multinomial(z.softmax(-1), 1, generator=generator).squeeze(1)
            if eos_token_id is not None:
                token = torch.where(unfinished, token, torch.full_like(token, eos_token_id))
                unfinished &= token != eos_token_id
            out = torch.cat([out, token[:, None]], dim=1)
            if eos_token_id is not None and not unfinished.any():
                break
        return out"""


def test_unfilled_decoding_scaffold_fails_as_not_implemented(tmp_path: Path) -> None:
    path = write_practice("decoding", out=tmp_path / "my_decoding.py")
    (cls,) = load_target(str(path)).components
    assert cls.reference == "hf-sample"
    report = check_component(cls, max_examples=3, timing=False)
    failed = [r for r in report.results if r.status == "failed"]
    assert failed and all("not implemented yet" in r.message for r in failed)


def test_filled_decoding_scaffold_passes(tmp_path: Path) -> None:
    path = write_practice("decoding", out=tmp_path / "solved_decoding.py")
    text = path.read_text()
    assert PLACEHOLDER in text
    path.write_text(text.replace(PLACEHOLDER, SOLUTION))
    (cls,) = load_target(str(path)).components
    report = check_component(cls, max_examples=8, timing=False)
    assert report.ok, [(r.property_id, r.message) for r in report.results if not r.ok]
    assert report.result("decoding.sampling-distribution").status == "passed"


def test_check_accepts_decoding_kind_name() -> None:
    assert main(["check", "decoding:greedy", "--examples", "4"]) == 0
