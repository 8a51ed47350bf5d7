"""Hand-built results documents for the reporting tests: no plugins, no runner, no timing."""

from __future__ import annotations

import copy
from typing import Any

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ERROR = "RuntimeError: <b>& broke\nTraceback line two"


def make_run(**extra: Any) -> dict[str, Any]:
    run = {
        "id": "20250101-000000",
        "started": "2025-01-01T00:00:00",
        "finished": "2025-01-01T00:01:00",
        "suite_version": "0.1.0",
        "python": "3.11.0",
        "torch": "2.4.0",
        "device": "cpu",
        "device_name": "test cpu",
        "seed": 0,
        "argv": ["nlpsuite", "run", "--quick"],
    }
    run.update(extra)
    return run


def cell(
    component: str,
    median_ms: float | None,
    *,
    kind: str = "attention",
    benchmark: str = "attention-latency",
    params: dict[str, Any] | None = None,
    reference: str | None = None,
    status: str = "ok",
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
    iqr_ms: float = 0.0,
    peak_bytes: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "component": component,
        "benchmark": benchmark,
        "params": {"seq_len": 128} if params is None else params,
        "status": status,
        "error": error,
        "metrics": metrics or {},
        "timing": None
        if median_ms is None
        else {"median_ms": median_ms, "iqr_ms": iqr_ms, "repeats": 7},
        "memory": None if peak_bytes is None else {"peak_bytes": peak_bytes},
        "reference": reference,
    }


BENCHMARKS = {
    "attention-latency": {
        "kind": "attention",
        "summary": "forward latency",
        "ratio_metric": "median_ms",
        "higher_is_better": False,
    },
    "tokenizer-throughput": {
        "kind": "tokenizer",
        "summary": "encode speed",
        "ratio_metric": "encode_mb_per_s",
        "higher_is_better": True,
    },
}


def sample_document() -> dict[str, Any]:
    """sdpa (reference) with two from-scratch candidates over a seq_len sweep, an error row, a
    candidate without timing, a hostile component, and a tokenizer table with a metric ratio."""
    results = []
    for seq_len, base in ((128, 1.0), (256, 3.0), (512, 10.0)):
        params = {"seq_len": seq_len, "heads": 4}
        results.append(cell("sdpa", base, params=params, peak_bytes=2_500_000))
        results.append(
            cell("naive", base * 2, params=params, reference="sdpa", peak_bytes=5_000_000)
        )
        results.append(
            cell(
                "linear",
                base * 0.5,
                params=params,
                reference="sdpa",
                metrics={"max_abs_error": 0.0123},
            )
        )
    results.append(
        cell(
            "naive",
            None,
            params={"seq_len": 1024, "heads": 4},
            reference="sdpa",
            status="error",
            error=HOSTILE_ERROR,
        )
    )
    results.append(cell("sdpa", 40.0, params={"seq_len": 1024, "heads": 4}))
    results.append(cell(HOSTILE, 1.5, params={"seq_len": 128, "heads": 4}, reference="sdpa"))
    results.append(
        cell(
            "bpe",
            5.0,
            kind="tokenizer",
            benchmark="tokenizer-throughput",
            params={"vocab_size": 512},
            reference="hf-bpe",
            metrics={"encode_mb_per_s": 2.0, "model_bytes": 123456},
        )
    )
    results.append(
        cell(
            "hf-bpe",
            1.0,
            kind="tokenizer",
            benchmark="tokenizer-throughput",
            params={"vocab_size": 512},
            metrics={"encode_mb_per_s": 8.0, "model_bytes": 99999},
        )
    )
    results.append(
        cell(
            "wordpiece",
            None,
            kind="tokenizer",
            benchmark="tokenizer-throughput",
            params={"vocab_size": 512},
            status="skipped",
            error="needs a corpus",
        )
    )
    return {"run": make_run(benchmarks=copy.deepcopy(BENCHMARKS)), "results": results}


def wide_document() -> dict[str, Any]:
    """A table as wide as `attention-scaling` or `loss-imbalanced`: a long reference name, a
    dozen snake_case metrics, and words longer than a narrow column (`precision`)."""
    names = [
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "f1_macro",
        "accuracy",
        "f1_tuned_threshold",
        "predicted_rare_rate",
        "mean_rare_probability",
        "time_ms_t8192",
        "cpu_growth_exponent",
    ]
    results = []
    for model, scale in (("linear", 1.0), ("mlp", 1.1)):
        params = {"model": model, "imbalance": 50}
        values = {name: 0.123456 * scale * (i + 1) for i, name in enumerate(names)}
        results.append(
            cell(
                "torch-cross-entropy",
                2.0,
                kind="loss",
                benchmark="loss-imbalanced",
                params=params,
                metrics=values,
            )
        )
        results.append(
            cell(
                "focal",
                2.5,
                kind="loss",
                benchmark="loss-imbalanced",
                params=params,
                reference="torch-cross-entropy",
                metrics={**values, "f1": 0.5},
            )
        )
    results.append(
        cell(
            "cross-entropy",
            None,
            kind="loss",
            benchmark="loss-imbalanced",
            params={"model": "mlp", "imbalance": 50},
            reference="torch-cross-entropy",
            status="error",
            error="ValueError: the logits are not finite at step 3",
        )
    )
    benchmarks = {
        "loss-imbalanced": {
            "kind": "loss",
            "summary": "imbalanced binary task (1 in 50): precision, recall, F1, ROC-AUC, PR-AUC",
            "ratio_metric": "f1",
            "higher_is_better": True,
        }
    }
    return {"run": make_run(benchmarks=benchmarks), "results": results}
