"""Run the ONNX backend node test suite through leptonc's frontend and interpreter.

    python tools/onnx_suite.py                 # summary + per-op table
    python tools/onnx_suite.py --op Conv -v    # one op type, each case with its failure
    python tools/onnx_suite.py --json out.json

Each case is compared with its own rtol/atol (as onnx's backend runner does).  A case is
"unsupported" when import fails with UnsupportedOpError (an op type, attribute variant or
dtype leptonc does not take), "failed" when it imports but errors or disagrees.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections import Counter, defaultdict

import numpy as np


def load_cases(op_filter: str | None, name_filter: str | None):
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    out = []
    for case in cases:
        ops = sorted({n.op_type for n in case.model.graph.node})
        main_op = _main_op(case)
        if op_filter and op_filter not in ops and op_filter != main_op:
            continue
        if name_filter and name_filter not in case.name:
            continue
        out.append((case, main_op))
    return out


def _main_op(case) -> str:
    """The op a case is about: its name says (test_<op>_...); else its first node."""
    name = case.name.removeprefix("test_")

    for node in case.model.graph.node:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", node.op_type).lower()
        if name.startswith(snake) or name.replace("_", "").startswith(node.op_type.lower()):
            return node.op_type
    return case.model.graph.node[0].op_type if case.model.graph.node else "?"


def _compare(expected: np.ndarray, actual: np.ndarray, rtol: float, atol: float) -> str | None:
    if expected.dtype == object or expected.dtype.kind in "US":
        same = np.array_equal(expected.astype(str), np.asarray(actual).astype(str))
        return None if same else "strings differ"
    if expected.shape != actual.shape:
        return f"shape {list(actual.shape)} != expected {list(expected.shape)}"
    if expected.dtype != actual.dtype:
        return f"dtype {actual.dtype} != expected {expected.dtype}"
    if expected.dtype.kind in "fc" or expected.dtype.name == "bfloat16":
        e, a = expected.astype(np.float64), actual.astype(np.float64)
        if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
            return f"max abs error {np.nanmax(np.abs(a - e)):.3g}"
        return None
    return None if np.array_equal(expected, actual) else "values differ"


def _as_numpy(x):
    """Case data may be TensorProtos; int4/int2 arrays use leptonc's int8/uint8 containers."""
    import ml_dtypes
    import onnx
    from onnx import numpy_helper

    if isinstance(x, onnx.TensorProto):
        x = numpy_helper.to_array(x)
    x = np.asarray(x)
    if x.dtype in (ml_dtypes.int4, ml_dtypes.int2):
        return x.astype(np.int8)
    if x.dtype in (ml_dtypes.uint4, ml_dtypes.uint2):
        return x.astype(np.uint8)
    return x


def run_case(case) -> tuple[str, str]:
    """('passed'|'failed'|'unsupported', detail) for one case."""
    import leptonc
    from leptonc.errors import UnsupportedOpError

    try:
        graph = leptonc.load_onnx(case.model, source=case.name)
        leptonc.verify(graph)
    except UnsupportedOpError as e:
        return "unsupported", str(e)
    except Exception as e:  # noqa: BLE001 - the report names every failure
        return "failed", f"import: {e.__class__.__name__}: {e}"
    initializers = {t.name for t in case.model.graph.initializer}
    names = [vi.name for vi in case.model.graph.input if vi.name not in initializers]
    for inputs, outputs in case.data_sets:
        feed = {n: _as_numpy(x) for n, x in zip(names, inputs, strict=False)}  # declared order
        try:
            with np.errstate(all="ignore"):
                got = leptonc.run(graph, feed)
        except Exception as e:  # noqa: BLE001
            return "failed", f"run: {e.__class__.__name__}: {e}"
        for name, expected in zip(graph.output_names, outputs, strict=False):
            problem = _compare(_as_numpy(expected), np.asarray(got[name]), case.rtol, case.atol)
            if problem:
                return "failed", f"output '{name}': {problem}"
    return "passed", ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--op", help="only cases that use this ONNX op type")
    ap.add_argument("--name", help="only cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every non-passing case")
    ap.add_argument("--json", help="write per-case results to this file")
    ap.add_argument("--markdown", help="write the coverage report (docs/onnx_coverage.md) here")
    args = ap.parse_args(argv)

    results = {}
    per_op: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for case, op in load_cases(args.op, args.name):
        status, detail = run_case(case)
        results[case.name] = {"op": op, "status": status, "detail": detail}
        per_op[op][status] += 1
        totals[status] += 1
        if args.verbose and status != "passed":
            print(f"{status:11s} {case.name}: {detail[:300]}")
    print(f"\n{'op':28s} {'passed':>7s} {'failed':>7s} {'unsupp':>7s}")
    for op in sorted(per_op):
        c = per_op[op]
        print(f"{op:28s} {c['passed']:7d} {c['failed']:7d} {c['unsupported']:7d}")
    n = sum(totals.values())
    print(f"\ncases: {n}  passed: {totals['passed']}  failed: {totals['failed']}  "
          f"unsupported: {totals['unsupported']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(coverage_markdown(results, per_op, totals))
    return 0


# Why the remaining cases do not pass: (pattern in the case's detail, reason), first match wins.
KNOWN_GAPS = [
    (r"FLOAT8|FLOAT4|FLOAT8E8M0", "8-bit and 4-bit float element types have no IR dtype yet "
     "(leptonc's low-bit path is integer iN/uN with scales)"),
    (r"sequence_type|optional_type|Sequence|SplitToSequence|Optional", "sequence and optional "
     "values: the IR holds tensors only"),
    (r"\bIf\b|\bLoop\b|\bScan\b", "control flow with sub-graphs (If/Loop/Scan) is not imported"),
    (r"\bGRU\b|\bLSTM\b|\bRNN\b", "recurrent layers are not in the canonical op set yet"),
    (r"String|Regex|TfIdf|ImageDecoder", "string processing and image decoding are outside an "
     "inference compiler's op set"),
    (r"ai\.onnx\.ml|training|Bernoulli|RandomUniform", "classical-ML, training and random ops "
     "(the ai.onnx.ml and training domains, non-deterministic ops)"),
    (r"DFT|STFT|Window|MelWeightMatrix", "signal-processing ops (DFT/STFT/windows) are not in "
     "the op set yet"),
    (r"NonMaxSuppression", "detection post-processing (NonMaxSuppression) is not in the op set"),
    (r"FlexAttention", "FlexAttention lives in ai.onnx.preview and takes graph-valued "
     "score/prob modifiers"),
    (r"max abs error", "low-precision attention: the expected values round intermediates to "
     "bf16/f16 step by step; leptonc computes in f32 and rounds once (a 1-ulp difference, "
     "onnxruntime fails the fp16 case the same way)"),
]


def gap_reason(detail: str) -> str:
    for pattern, reason in KNOWN_GAPS:
        if re.search(pattern, detail):
            return reason
    return "not yet triaged"


def coverage_markdown(results: dict, per_op: dict, totals: Counter) -> str:
    """The coverage page: totals, a per-op table, and every case that does not pass."""
    lines = ["# ONNX backend node-suite coverage", "",
             "Generated by `python tools/onnx_suite.py --markdown docs/onnx_coverage.md`; each case",
             "is compared with its own rtol/atol. 'unsupported' means the import refused the model",
             "with a clear error (an op, attribute variant or element type leptonc does not take).",
             "", f"**{totals['passed']} passed, {totals['failed']} failed, "
             f"{totals['unsupported']} unsupported of {sum(totals.values())} cases.**", "",
             "| op | passed | failed | unsupported |", "|---|---|---|---|"]
    for op in sorted(per_op):
        c = per_op[op]
        lines.append(f"| {op} | {c['passed']} | {c['failed']} | {c['unsupported']} |")
    reasons = Counter(gap_reason(r["detail"]) for r in results.values() if r["status"] != "passed")
    lines += ["", "## Why the rest do not pass", "", "| cases | reason |", "|---|---|"]
    lines += [f"| {n} | {reason} |" for reason, n in reasons.most_common()]
    for status in ("failed", "unsupported"):
        lines += ["", f"## Cases that are {status}", ""]
        for name, r in sorted(results.items()):
            if r["status"] == status:
                detail = r["detail"].replace("|", "\\|").replace("\n", " ")[:200]
                lines.append(f"- `{name}` ({r['op']}): {detail}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
