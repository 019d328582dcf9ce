"""leptonc's post-training quantization against onnxruntime's ``quantize_static`` (issue 4,
must-show 3 and 5), on the same models and the same calibration data.

    python tools/quant_report.py                  # digits CNN and MiniLM (a few minutes)
    python tools/quant_report.py --skip-minilm    # digits CNN only (seconds)
    python tools/quant_report.py --memory         # also: peak RSS of calibrating MiniLM on 256

* digits CNN (tools/make_models.py): calibrated on CALIB_DIGITS training samples, top-1 on
  the held-out split.  Both tools get the same float model: leptonc's graph after
  ``fold-batchnorm,canonicalize``, exported to ONNX for onnxruntime.
* all-MiniLM-L6-v2 (tools/minilm.py, batch 1, 128 tokens): calibrated on the first
  CALIB_SENTENCES of 64 real sentences, scored on all 64 by the mean cosine between the
  quantized and the f32 ``sentence_embedding``.
* the export check: leptonc's QDQ digits graph, exported, run by onnxruntime, compared with
  leptonc's fake-quant interpreter in output quantization steps.

Each row of the table is one entry of ``DIGITS`` or ``MINILM``: a name and a function that
quantizes (or not) and returns something to score.  Add a configuration by adding an entry.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

import leptonc
from leptonc.export import export_onnx
from leptonc.ir.graph import Graph
from leptonc.passmgr import run_pipeline
from leptonc.quant import quantize_graph, scheme_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import digits_cnn_onnx, digits_data  # noqa: E402
from minilm import SENTENCES, minilm_inputs, minilm_onnx  # noqa: E402

CALIB_DIGITS = 320
CALIB_SENTENCES = 16
SEQ_LEN = 128

# 64 real sentences: the eight of tools/minilm.py and 56 more of varied topic and length.
MORE_SENTENCES = (
    "The train to Edinburgh was delayed by forty minutes because of a signal failure.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "He forgot his umbrella on the bus again.",
    "Can you recommend a good book about the history of mathematics?",
    "The central bank raised interest rates by a quarter of a percentage point.",
    "Our cat sleeps on the windowsill every afternoon.",
    "A binary search halves the remaining interval at every step.",
    "The museum opens at nine and closes at five on weekdays.",
    "Volcanic eruptions can cool the global climate for several years.",
    "Please remember to water the tomatoes while I am away.",
    "The orchestra rehearsed the second movement until it was perfect.",
    "Memory bandwidth, not arithmetic, limits most neural network inference on CPUs.",
    "They hiked to the summit before sunrise to watch the clouds below.",
    "What time does the pharmacy close on Sundays?",
    "The new bridge will connect the island to the mainland by 2030.",
    "Children learn languages faster when they hear them spoken at home.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Electric cars have fewer moving parts than petrol cars.",
    "The defendant pleaded not guilty to all charges.",
    "A sudden gust of wind blew the papers off the desk.",
    "Graph neural networks pass messages along the edges of a graph.",
    "The library extended its opening hours during the exam period.",
    "I would like a window seat, if one is still available.",
    "The glacier has retreated more than a kilometre since 1950.",
    "She scored the winning goal in the last minute of extra time.",
    "Coffee prices rose sharply after the poor harvest in Brazil.",
    "The software update fixed the bug that drained the battery overnight.",
    "Whales communicate with songs that travel hundreds of kilometres.",
    "The committee postponed its decision until next month.",
    "He painted the fence white and the door a deep shade of blue.",
    "Integer arithmetic makes inference cheaper on small embedded devices.",
    "The hotel lobby was crowded with tourists waiting for their rooms.",
    "Antibiotics do not work against viral infections such as the common cold.",
    "We watched an old black-and-white film on Saturday night.",
    "The startup raised twelve million dollars in its first funding round.",
    "Bees are essential for pollinating many of the crops we eat.",
    "Turn left at the second traffic light and the station is on your right.",
    "The novel follows three generations of a family in rural Ireland.",
    "Rust prevents data races at compile time through its ownership rules.",
    "The storm knocked out power to thousands of homes along the coast.",
    "My grandmother still writes letters by hand to her old friends.",
    "The telescope captured images of a galaxy thirteen billion light years away.",
    "Is this seat taken?",
    "The farmers market sells fresh bread, cheese and seasonal vegetables.",
    "Regular exercise improves both physical and mental health.",
    "The negotiations broke down over the question of fishing rights.",
    "A cache miss costs hundreds of cycles on a modern processor.",
    "The puppy chewed through the charging cable while we were out.",
    "Ancient Romans built aqueducts to carry water into their cities.",
    "The flight attendant asked everyone to fasten their seat belts.",
    "Solar panels on the roof now cover most of the house's electricity.",
    "The professor explained the proof twice, but nobody understood it.",
    "Snow is expected in the mountains by the end of the week.",
    "The restaurant was closed for renovation, so we ate at home.",
    "Translation models learn to align words across two languages.",
    "Thank you for your help with the move last weekend.",
)
ALL_SENTENCES = (*SENTENCES, *MORE_SENTENCES)


@dataclass(frozen=True)
class Row:
    model: str
    name: str
    score: float
    seconds: float
    note: str = ""


# ----- digits CNN ---------------------------------------------------------------------------
def digits_float_graph() -> Graph:
    g = leptonc.load_onnx(digits_cnn_onnx())
    run_pipeline(g, "fold-batchnorm,canonicalize")
    return g


def digits_batches(x: np.ndarray, size: int = 64) -> list[dict[str, np.ndarray]]:
    return [{"input": x[i:i + size]} for i in range(0, CALIB_DIGITS, size)]


def leptonc_digits(method: str) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def build(x_train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        g = digits_float_graph()
        quantize_graph(g, digits_batches(x_train), scheme_config("uint8", method=method),
                       progress=False)
        return lambda x: leptonc.run(g, {"input": x})["logits"]
    return build


def leptonc_float_digits(x_train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    g = digits_float_graph()
    return lambda x: leptonc.run(g, {"input": x})["logits"]


def ort_digits(method: str) -> Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    def build(x_train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        session = ort_static(export_onnx(digits_float_graph()), digits_batches(x_train), method)
        return lambda x: session.run(["logits"], {"input": x})[0]
    return build


DIGITS: list[tuple[str, Callable]] = [
    ("f32 (leptonc interpreter)", leptonc_float_digits),
    ("leptonc uint8 per-channel, minmax", leptonc_digits("minmax")),
    ("leptonc uint8 per-channel, entropy", leptonc_digits("entropy")),
    ("onnxruntime quantize_static QDQ per-channel, minmax", ort_digits("minmax")),
    ("onnxruntime quantize_static QDQ per-channel, entropy", ort_digits("entropy")),
]


def digits_rows() -> list[Row]:
    x_train, _, x_test, y_test = digits_data()
    rows = []
    for name, build in DIGITS:
        start = time.perf_counter()
        predict = build(x_train)
        accuracy = float(np.mean(predict(x_test).argmax(1) == y_test))
        rows.append(Row("digits CNN", name, accuracy, time.perf_counter() - start))
    return rows


# ----- MiniLM ---------------------------------------------------------------------------------
def sentence_inputs(sentences=ALL_SENTENCES) -> list[dict[str, np.ndarray]]:
    return [minilm_inputs(SEQ_LEN, 1, [s]) for s in sentences]


def minilm_graph() -> Graph:
    g = leptonc.load_onnx(minilm_onnx(SEQ_LEN))
    run_pipeline(g, "canonicalize,fuse-gelu")
    return g


def leptonc_minilm(**options) -> Callable:
    def build(calib: list[dict]) -> Callable[[dict], np.ndarray]:
        g = minilm_graph()
        quantize_graph(g, calib, scheme_config("uint8", **options), progress=False)
        return lambda inputs: leptonc.run(g, inputs)["sentence_embedding"]
    return build


def ort_minilm(op_types: list[str] | None) -> Callable:
    def build(calib: list[dict]) -> Callable[[dict], np.ndarray]:
        session = ort_static(onnx.load(str(minilm_onnx(SEQ_LEN))), calib, "minmax", op_types)
        return lambda inputs: session.run(["sentence_embedding"], inputs)[0]
    return build


MINILM: list[tuple[str, Callable]] = [
    ("leptonc uint8 per-channel, minmax (default float set)", leptonc_minilm()),
    ("leptonc uint8 per-channel, matmuls only", leptonc_minilm(ignore=("ew.*", "shape.*"))),
    ("onnxruntime quantize_static QDQ per-channel, all ops", ort_minilm(None)),
    ("onnxruntime quantize_static QDQ per-channel, MatMul only", ort_minilm(["MatMul"])),
]


def minilm_rows() -> list[Row]:
    inputs = sentence_inputs()
    reference_graph = minilm_graph()
    reference = np.concatenate([leptonc.run(reference_graph, i)["sentence_embedding"]
                                for i in inputs])
    rows = []
    for name, build in MINILM:
        start = time.perf_counter()
        embed = build(inputs[:CALIB_SENTENCES])
        ours = np.concatenate([embed(i) for i in inputs])
        rows.append(Row("MiniLM", name, mean_cosine(ours, reference),
                        time.perf_counter() - start, f"{len(inputs)} sentences"))
    return rows


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


# ----- onnxruntime ----------------------------------------------------------------------------
def ort_static(model: onnx.ModelProto, calib: list[dict], method: str,
               op_types: list[str] | None = None):
    """An onnxruntime session of ``model`` quantized by ``quantize_static`` (QDQ, u8
    activations, per-channel i8 weights, as leptonc's uint8 scheme) on ``calib``."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches: Iterator[dict] = iter(calib)

        def get_next(self):
            return next(self.batches, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        onnx.save(model, source)
        quantize_static(source, target, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=op_types, calibrate_method=methods[method])
        return ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])


# ----- export check (must-show 5) ---------------------------------------------------------------
def export_check() -> str:
    import onnxruntime as ort

    x_train, _, x_test, _ = digits_data()
    g = digits_float_graph()
    report = quantize_graph(g, digits_batches(x_train), scheme_config("uint8"), progress=False)
    session = ort.InferenceSession(export_onnx(g).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    ours = leptonc.run(g, {"input": x_test})["logits"]
    theirs = session.run(["logits"], {"input": x_test})[0]
    steps = np.abs(ours - theirs) / float(report.tensor("logits").scale)
    return (f"QDQ export of the uint8 digits CNN in onnxruntime vs leptonc's interpreter: "
            f"max difference {steps.max():.3f} output steps, {np.mean(steps == 0):.2%} of "
            f"{steps.size} elements identical")


def calibration_memory(samples: int = 256) -> str:
    """Peak resident memory of calibrating MiniLM on ``samples`` sentences (streamed)."""
    g = minilm_graph()
    sentences = [ALL_SENTENCES[i % len(ALL_SENTENCES)] for i in range(samples)]
    start = time.perf_counter()
    quantize_graph(g, (minilm_inputs(SEQ_LEN, 1, [s]) for s in sentences),
                   scheme_config("uint8", method="entropy"), progress=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return (f"calibrating MiniLM on {samples} samples (entropy observers): peak RSS of this "
            f"process {peak:.0f} MiB, {time.perf_counter() - start:.0f} s")


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    print(f"{'model':<11} {'configuration':<{width}}  {'score':>7}  {'time':>6}  note")
    for r in rows:
        print(f"{r.model:<11} {r.name:<{width}}  {r.score:7.4f}  {r.seconds:5.1f}s  {r.note}")
    print("score: top-1 on the held-out split (digits CNN), mean cosine to f32 (MiniLM)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the peak RSS of calibrating MiniLM on 256 samples")
    args = parser.parse_args(argv)
    rows = digits_rows()
    if not args.skip_minilm:
        rows += minilm_rows()
    print_table(rows)
    print(export_check())
    if args.memory:
        print(calibration_memory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
