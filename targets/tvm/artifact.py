"""The artifact folder of the cpu/gpu targets, written whole or not at all, and its loader.

    OUT/manifest.json     format version, target (+ TVM's full target string), inputs and
                          outputs (names, shapes, dtypes, quantization), pipeline, versions,
                          the library's file name and SHA-256
    OUT/model.so          the compiled library (weights included: constants are bound)
    OUT/report.md         one row per kernel: ops, shapes, MACs, the schedule rule used
    OUT/kernels/model.cu  gpu only: the generated CUDA source (one compilation unit)
    OUT/tuning.json       cpu, after --tune: the tuner's database (reused by the next compile)

``load_artifact(OUT)`` returns a ``CompiledModel``: ``model(**inputs) -> {name: array}``.
Every way a folder can be wrong (no manifest, a garbled one, another format version, a
missing or swapped library, a gpu library on a machine without a GPU, a cpu library built
for instructions this CPU lacks) is one ``ModelLoadError`` naming the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leptonc.artifact_io import check_input_names, publish, staging_dir
from leptonc.errors import InputError, LeptoncError, ModelLoadError, ParseError, UsageError
from leptonc.interp import check_input
from leptonc.ir.dtypes import parse_dtype
from leptonc.ir.graph import Graph, Value
from leptonc.ir.printer import format_dims
from leptonc.ir.types import QuantParams, TensorType, shape_matches

FORMAT = "leptonc-tvm-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LIBRARY = "model.so"
REPORT = "report.md"
KERNELS_DIR = "kernels"


# ----- the manifest ------------------------------------------------------------------------------
def _quant_json(q: QuantParams | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {"scale": list(q.scale), "zero_point": list(q.zero_point), "storage": str(q.storage),
            "axis": q.axis}


def tensor_json(name: str, t: TensorType) -> dict[str, Any]:
    return {"name": name, "dtype": str(t.dtype), "shape": list(t.shape), "quant": _quant_json(t.quant)}


def io_json(graph: Graph) -> dict[str, list[dict[str, Any]]]:
    return {"inputs": [tensor_json(v.name, v.type) for v in graph.inputs],
            "outputs": [tensor_json(name, v.type) for name, v in zip(graph.output_names, graph.outputs,
                                                                     strict=True)]}


# ----- writing -----------------------------------------------------------------------------------
@dataclass(slots=True)
class ArtifactFiles:
    """What goes into the folder; ``write_library(path)`` writes the compiled library, each of
    ``extra_files`` (file name -> writer taking the path) one more file, such as the tuning
    database."""

    manifest: dict[str, Any]
    report: str
    write_library: Any
    cuda_source: str | None = None
    extra_files: dict[str, Callable[[Path], None]] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fill(folder: Path, files: ArtifactFiles) -> None:
    files.write_library(str(folder / LIBRARY))
    if files.cuda_source is not None:
        (folder / KERNELS_DIR).mkdir()
        (folder / KERNELS_DIR / "model.cu").write_text(files.cuda_source)
    (folder / REPORT).write_text(files.report)
    for name, write in files.extra_files.items():
        write(folder / name)
    manifest = dict(files.manifest, library={"file": LIBRARY, "sha256": _sha256(folder / LIBRARY)})
    # The manifest goes last: a folder with a manifest is a complete one.
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def check_destination(out: Path) -> None:
    """``out`` can take an artifact: new, empty, or an earlier artifact (replaced whole).

    The compile driver asks before any work, so a long compile (``--tune``) never ends in
    this error; ``write_artifact`` asks again.
    """
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UsageError(f"-o {out}: is a non-empty folder that is not a leptonc artifact; "
                         "name a new or empty folder")


def write_artifact(out: Path, files: ArtifactFiles) -> Path:
    """Write the folder ``out`` whole (replacing an earlier artifact there), or nothing."""
    check_destination(out)
    with staging_dir(out.parent if out.parent.exists() else out) as staging:
        folder = staging / "artifact"
        folder.mkdir()
        _fill(folder, files)
        if out.is_dir() and any(out.iterdir()):
            os.replace(out, staging / "previous")  # swapped out, removed with the staging folder
        elif out.is_dir():
            out.rmdir()
        publish(folder, out)
    return out


# ----- loading -----------------------------------------------------------------------------------
def _tensor_type(entry: Mapping[str, Any]) -> TensorType:
    shape = tuple(d if d is None or isinstance(d, int | str) else int(d) for d in entry["shape"])
    return TensorType(parse_dtype(entry["dtype"]), shape)


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: not an artifact folder (no such folder)")
    if not path.is_file():
        raise ModelLoadError(f"{folder}: not a leptonc artifact (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{path}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a leptonc cpu/gpu artifact manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(f"{path}: format version {manifest.get('format_version')!r}; this leptonc "
                             f"reads version {FORMAT_VERSION} (recompile the model)")
    try:
        for key in ("inputs", "outputs"):
            manifest[key] = [dict(e, type=_tensor_type(e)) for e in manifest[key]]
        manifest["library"]["file"], manifest["library"]["sha256"], manifest["target"]  # noqa: B018
        manifest["bound_dims"] = {str(k): int(v) for k, v in manifest.get("bound_dims", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError, ParseError) as e:
        raise ModelLoadError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from None
    return manifest


def _check_library(folder: Path, manifest: Mapping[str, Any]) -> Path:
    library = folder / Path(manifest["library"]["file"]).name
    if not library.is_file():
        raise ModelLoadError(f"{folder}: the library {library.name} is missing")
    if _sha256(library) != manifest["library"]["sha256"]:
        raise ModelLoadError(f"{library}: does not match the manifest (a library of another "
                             "compile or target; recompile the model)")
    return library


def _check_device(folder: Path, manifest: Mapping[str, Any]) -> Any:
    import tvm

    from leptonc.targets.tvm.build import host_cpu

    if manifest["target"] == "gpu":
        device = tvm.cuda(0)
        if not device.exist:
            raise ModelLoadError(f"{folder}: a gpu artifact; this machine has no CUDA GPU to run it")
        return device
    if manifest["target"] != "cpu":
        raise ModelLoadError(f"{folder}: unknown target {manifest['target']!r}")
    _, host_features = host_cpu()
    missing = sorted(set(f for f in manifest.get("cpu_features", []) if f.startswith("+"))
                     - set(host_features))
    if missing:
        raise ModelLoadError(f"{folder}: compiled for a CPU with {', '.join(f[1:] for f in missing)}, "
                             "which this one lacks (recompile here)")
    return tvm.cpu(0)


# ----- the CPU thread pool ------------------------------------------------------------------------
# TVM's pool reads these when it starts (the first parallel kernel of the process); a value the
# user set in the environment wins.  Measured on the 2-core znver4 host shared with other jobs,
# squeezenet and shufflenet, two threads, calls of five settings interleaved (docs/targets.md):
# unpinned workers (TVM_BIND_THREADS=0) lowered the slow tail a little -- a worker pinned to a
# core another process holds waits for that core, an unpinned one moves -- and never cost
# in the median; a shorter spin (30,000 rounds instead of 300,000) kept the median of
# spinning between the kernels of one call while workers stop burning a core sooner after
# it.  No spinning at all (0) cost 4% on shufflenet's median.
THREAD_POOL_DEFAULTS = {"TVM_BIND_THREADS": "0", "TVM_THREAD_POOL_SPIN_COUNT": "30000"}


def configure_thread_pool() -> None:
    """Set leptonc's thread-pool defaults for this process, unless the environment has its own."""
    for name, value in THREAD_POOL_DEFAULTS.items():
        os.environ.setdefault(name, value)


class CompiledModel:
    """A loaded artifact: call it with the inputs by name, get the outputs by name."""

    def __init__(self, folder: Path):
        import tvm
        from tvm import relax

        configure_thread_pool()
        self.folder = folder
        self.manifest = read_manifest(folder)
        library = _check_library(folder, self.manifest)
        self.device = _check_device(folder, self.manifest)
        try:
            self._vm = relax.VirtualMachine(tvm.runtime.load_module(str(library)), self.device)
        except Exception as e:  # TVM raises its own error kinds; all mean "cannot load this"
            raise ModelLoadError(f"{library}: cannot load the library ({str(e).splitlines()[0]})") from None
        self.inputs = [Value(e["name"], e["type"]) for e in self.manifest["inputs"]]
        self.output_names = [e["name"] for e in self.manifest["outputs"]]

    @property
    def target(self) -> str:
        return self.manifest["target"]

    def check_input(self, name: str, array: Any) -> None:
        """The checks of a call for one input (a known name, its dtype and shape)."""
        value = next((v for v in self.inputs if v.name == name), None)
        if value is None:
            raise InputError(f"unknown input {name!r}; the model takes "
                             f"{', '.join(repr(v.name) for v in self.inputs)}")
        self._check(value, array)

    def _check(self, value: Value, given: Any) -> np.ndarray:
        """``interp.check_input``; a shape refused because of a bound dim says so."""
        bound = self.manifest.get("bound_dims") or {}
        shape = np.shape(given)
        if bound and not shape_matches(shape, value.type.shape):
            dims = ", ".join(f"--dim {name}={size}" for name, size in bound.items())
            raise InputError(f"input '{value.name}' has shape {list(shape)}; this artifact was compiled "
                             f"for {format_dims(value.type.shape)} ({dims}): recompile for other sizes")
        return check_input(value, given)

    def _feeds(self, inputs: Mapping[str, Any]) -> list[np.ndarray]:
        check_input_names([v.name for v in self.inputs], inputs)
        arrays = [self._check(v, inputs[v.name]) for v in self.inputs]
        _check_symbolic_dims(self.inputs, arrays)
        return arrays

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        arrays = self._feeds(inputs)
        if self.target != "cpu":
            results = self._vm["main"](*(_device_tensor(a, self.device) for a in arrays))
            return {name: r.numpy() for name, r in zip(self.output_names, results, strict=True)}
        buffers = [_aligned(a) for a in arrays]
        results = self._vm["main"](*(host_tensor(b) for b in buffers))
        outputs = [host_array(r) for r in results]
        # A graph that returns an input as it is hands back the caller's own buffer: copy it.
        outputs = [o.copy() if any(np.may_share_memory(o, b) for b in buffers) else o for o in outputs]
        return dict(zip(self.output_names, outputs, strict=True))


# ----- moving arrays in and out -------------------------------------------------------------------
# TVM's kernels take their buffers as 64-byte aligned (TVM's allocator guarantees it and LLVM
# may emit aligned vector accesses); numpy aligns to 16.  ``tvm.runtime.tensor`` allocates
# and copies through TVM (~18 us even for 256 bytes, measured), and ``Tensor.numpy`` copies
# back out (~6 us): for a small model that is more than its kernels take.  Aligned numpy
# buffers shared through DLPack cost ~1 us each way.
TVM_ALIGNMENT = 64


def _aligned(array: np.ndarray) -> np.ndarray:
    """``array`` itself when TVM can read it in place, else an aligned, contiguous copy."""
    if (array.flags.c_contiguous and array.flags.writeable and array.size
            and array.ctypes.data % TVM_ALIGNMENT == 0):
        return array
    raw = np.empty(array.nbytes + TVM_ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % TVM_ALIGNMENT
    copy = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    np.copyto(copy, array)
    return copy


def host_tensor(array: np.ndarray) -> Any:
    """A CPU ``tvm.runtime.Tensor`` over ``array``'s memory, which must be ``_aligned``."""
    import tvm

    if array.size == 0:
        return tvm.runtime.tensor(array)
    return tvm.runtime.from_dlpack(array)


def host_array(tensor: Any) -> np.ndarray:
    """A CPU result as a numpy array over the same memory (it keeps the tensor alive)."""
    return np.from_dlpack(tensor)


def _device_tensor(array: np.ndarray, device: Any) -> Any:
    import tvm

    return tvm.runtime.tensor(np.ascontiguousarray(array), device)


def _check_symbolic_dims(values: list[Value], arrays: list[np.ndarray]) -> None:
    seen: dict[str, tuple[int, str]] = {}
    for v, a in zip(values, arrays, strict=True):
        for d, size in zip(v.type.shape, a.shape, strict=True):
            if isinstance(d, str):
                first = seen.setdefault(d, (size, v.name))
                if first[0] != size:
                    raise InputError(f"input '{v.name}' has {d}={size}, input '{first[1]}' has "
                                     f"{d}={first[0]}")


def load_artifact(folder: str | os.PathLike) -> CompiledModel:
    """Load a cpu/gpu artifact folder written by ``leptonc MODEL --target cpu|gpu -o OUT``."""
    try:
        return CompiledModel(Path(folder))
    except LeptoncError:
        raise
    except OSError as e:
        raise ModelLoadError(f"{folder}: cannot read ({e.strerror or e})") from None


def is_artifact(path: Path) -> bool:
    """Whether ``path`` looks like an artifact folder (``leptonc run`` dispatches on it)."""
    return path.is_dir() and (path / MANIFEST).exists()
