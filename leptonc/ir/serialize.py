"""Reading and writing ``.lir`` files: the text IR plus a side file for large constants.

``model.lir`` holds the text; ``model.lir.bin`` holds every ``external`` constant: a magic
line, a JSON index ``{name: [offset, dtype, shape]}`` and 64-byte-aligned raw data, so
loading memory-maps weights instead of copying them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from leptonc.errors import ModelLoadError
from leptonc.ir.graph import Graph
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import INLINE_LIMIT, print_graph

_MAGIC = b"LEPTONC-WEIGHTS-1\n"
_ALIGN = 64


def _external_constants(graph: Graph) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for v in graph.constants.values():
        if v.data.size > INLINE_LIMIT:
            found[v.name] = v.data
    for node in graph:
        for a in node.attrs.values():
            if isinstance(a, Graph):
                for name, data in _external_constants(a).items():
                    if name in found:
                        raise ValueError(f"constant name %{name} is used in two graphs")
                    found[name] = data
    return found


def write_weights(arrays: dict[str, np.ndarray], path: Path) -> None:
    index, offset = {}, 0
    for name, data in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        index[name] = [offset, data.dtype.str if data.dtype.kind != "V" else data.dtype.name,
                       list(data.shape)]
        offset += data.nbytes
    header = json.dumps(index).encode()
    base = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    with open(path, "wb") as f:
        f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        for name, data in arrays.items():
            f.seek(base + index[name][0])
            f.write(np.ascontiguousarray(data).tobytes())


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """Memory-map every array of a weights file."""
    try:
        with open(path, "rb") as f:
            if f.read(len(_MAGIC)) != _MAGIC:
                raise ModelLoadError(f"{path}: not a leptonc weights file")
            size = int.from_bytes(f.read(8), "little")
            index = json.loads(f.read(size))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: cannot read weights ({e})") from None
    base = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    file_size = os.path.getsize(path)
    out = {}
    for name, (offset, dtype, shape) in index.items():
        dt = _dtype_from_str(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if base + offset + nbytes > file_size:
            raise ModelLoadError(f"{path}: weights file is truncated (constant %{name})")
        out[name] = np.memmap(path, dtype=dt, mode="r", offset=base + offset, shape=tuple(shape))
    return out


def _dtype_from_str(s: str) -> np.dtype:
    if s == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(s)


def save(graph: Graph, path: str | Path) -> list[Path]:
    """Write ``path`` (and ``path.bin`` when there are external constants); returns the files."""
    path = Path(path)
    text = print_graph(graph)
    arrays = _external_constants(graph)
    written = []
    if arrays:
        weights = path.with_name(path.name + ".bin")
        write_weights(arrays, weights)
        written.append(weights)
    path.write_text(text)
    return [path, *written]


def load(path: str | Path) -> Graph:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
    weights_path = path.with_name(path.name + ".bin")
    arrays: dict[str, np.ndarray] | None = None

    def external(name: str) -> np.ndarray:
        nonlocal arrays
        if arrays is None:
            if not weights_path.exists():
                raise ModelLoadError(f"{path}: constant %{name} is external but {weights_path.name}"
                                     " is missing")
            arrays = read_weights(weights_path)
        if name not in arrays:
            raise ModelLoadError(f"{weights_path}: has no data for constant %{name}")
        return arrays[name]

    return parse_graph(text, str(path), external)
