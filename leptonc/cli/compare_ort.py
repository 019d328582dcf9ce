"""``leptonc run --compare-ort``: run the same inputs through onnxruntime and compare every
output within the tolerance DESIGN.md sets for float32 ("Validation")."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

from leptonc.errors import LeptoncError, UsageError

ORT_RTOL = 1e-4
ORT_ATOL = 1e-5
ORT_TOLERANCE = "rtol 1e-4 / atol 1e-5"


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind in "fc" or dtype == ml_dtypes.bfloat16


def _errors(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float, bool]:
    """Max absolute and relative error, and whether every element is within tolerance."""
    if not (_is_float(actual.dtype) and _is_float(expected.dtype)):
        same = bool(np.array_equal(actual, expected))
        return (0.0 if same else float("inf")), (0.0 if same else float("inf")), same
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(e)
    diff = np.where(both_nan, 0.0, np.abs(a - e))
    nonzero = np.abs(e) > 0
    max_rel = float(np.max(diff[nonzero] / np.abs(e[nonzero]))) if nonzero.any() else 0.0
    max_abs = float(np.max(diff)) if diff.size else 0.0
    ok = bool(np.all(diff <= ORT_ATOL + ORT_RTOL * np.abs(e)))  # NaN anywhere else fails
    return max_abs, max_rel, ok


def _run_onnxruntime(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("--compare-ort needs onnxruntime (pip install onnxruntime)") from None
    try:
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))
    except Exception as e:  # onnxruntime raises its own unrelated exception types
        raise LeptoncError(f"onnxruntime could not run {model}: {e}") from None


def compare_with_onnxruntime(model: Path, feeds: dict[str, np.ndarray],
                             outputs: dict[str, np.ndarray]) -> None:
    """Print the error of every output against onnxruntime; raise unless all are in tolerance."""
    reference = _run_onnxruntime(model, feeds)
    print(f"compared with onnxruntime ({ORT_TOLERANCE}):")
    failed = []
    for name, actual in outputs.items():
        expected = np.asarray(reference[name])
        if actual.shape != expected.shape:
            print(f"  {name}: shape {list(actual.shape)}, onnxruntime {list(expected.shape)}"
                  "  MISMATCH")
            failed.append(name)
            continue
        max_abs, max_rel, ok = _errors(actual, expected)
        print(f"  {name}: max abs {max_abs:.3g}  max rel {max_rel:.3g}  "
              f"{'ok' if ok else 'MISMATCH'}")
        if not ok:
            failed.append(name)
    if failed:
        raise LeptoncError(f"{len(failed)} output(s) differ from onnxruntime beyond "
                           f"{ORT_TOLERANCE}: {', '.join(failed)}")
