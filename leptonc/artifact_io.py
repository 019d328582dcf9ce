"""Files in and out of the ``leptonc`` command: models, input arrays, results.

Two rules hold for everything written here:

* Nothing half-written looks like a result.  Files are first written into a hidden staging
  folder on the same file system as their destination and renamed into place only once all
  of them are complete; on any failure the staging folder is removed and nothing appears.
* Model-controlled names never choose paths.  Output tensor names become file names only
  after sanitising (no separators, no leading dots, bounded length, no collisions), so a
  result can never land outside the folder the user named.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np

from leptonc.errors import InputError, LeptoncError, ModelLoadError, OutputError, UsageError
from leptonc.frontend.onnx import load_onnx
from leptonc.interp import check_input
from leptonc.ir import dtypes
from leptonc.ir import serialize as lir
from leptonc.ir.graph import Graph
from leptonc.ir.verifier import verify

ONNX_SUFFIX = ".onnx"
IR_SUFFIX = ".lir"
NPZ_SUFFIX = ".npz"
_MAX_STEM = 100
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


# ----- models ------------------------------------------------------------------------------
def load_model(path: Path) -> Graph:
    """Import an ``.onnx`` model or read a ``.lir`` text-IR file."""
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a directory, not a model file "
                             f"({ONNX_SUFFIX} or {IR_SUFFIX})")
    suffix = path.suffix.lower()
    if suffix not in (ONNX_SUFFIX, IR_SUFFIX):
        raise UsageError(f"{path}: unknown model format '{path.suffix}' "
                         f"(expected an {ONNX_SUFFIX} or {IR_SUFFIX} file)")
    try:
        return load_onnx(path) if suffix == ONNX_SUFFIX else _load_ir(path)
    except LeptoncError as e:
        if str(path) in str(e):
            raise
        # Some errors (an unknown op in a .lir, say) do not say which file they are about.
        raise type(e)(f"{path}: {e}") from None


def _load_ir(path: Path) -> Graph:
    # Text IR may be written or edited by hand: check it before anything relies on it.
    graph = lir.load(path)
    verify(graph)
    return graph


# ----- inputs ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GivenInput:
    array: np.ndarray
    source: str  # where the array came from, for error messages


def parse_input_spec(spec: str) -> tuple[str, Path]:
    """``"x=file.npy"`` -> ``("x", Path("file.npy"))``; the name ends at the first ``=``."""
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise UsageError(f"--input '{spec}': expected NAME=FILE.npy")
    return name, Path(file)


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _numpy_file_kind(path: Path, label: str) -> str:
    """``"npy"`` or ``"npz"``, judged by the file's first bytes rather than its name."""
    if not path.exists():
        raise InputError(f"{label}: no such file")
    if path.is_dir():
        raise InputError(f"{label}: is a directory, not a numpy file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as e:
        raise InputError(f"{label}: cannot read ({e.strerror or e})") from None
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(_ZIP_MAGIC):
        return "npz"
    raise InputError(f"{label}: not a numpy file (no .npy or .npz header)")


def read_npy(path: Path, label: str) -> np.ndarray:
    """One array from a ``.npy`` file (never unpickling: files may come from anywhere).

    ``label`` says where the path came from in error messages (``--input x=x.npy``).
    """
    if _numpy_file_kind(path, label) == "npz":
        raise InputError(f"{label}: is an .npz archive; pass it with --inputs")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{label}: not a valid .npy file ({e})") from None


def read_npz(path: Path, label: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, keyed by its name."""
    if _numpy_file_kind(path, label) == "npy":
        raise InputError(f"{label}: is a single array, not an .npz archive; pass it with "
                         "--input NAME=FILE")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{label}: not a valid .npz file ({e})") from None


def gather_inputs(specs: Sequence[str], archive: Path | None,
                  archive_option: str = "--inputs") -> dict[str, GivenInput]:
    """The arrays named by ``--input NAME=FILE`` options and an optional ``.npz`` archive
    (given with ``archive_option``, which error messages name)."""
    given: dict[str, GivenInput] = {}
    if archive is not None:
        for name, array in read_npz(archive, f"{archive_option} {archive}").items():
            given[name] = GivenInput(array, f"{archive}[{name}]")
    for spec in specs:
        name, path = parse_input_spec(spec)
        if name in given:
            raise UsageError(f"input '{name}' is given twice ({given[name].source} and {path})")
        given[name] = GivenInput(read_npy(path, f"--input {spec}"), str(path))
    return given


def _as_model_dtype(array: np.ndarray, want: dtypes.DType) -> np.ndarray:
    # .npy has no bfloat16 descriptor: numpy saves it as 2-byte raw values ('|V2').
    if want == dtypes.bf16 and array.dtype.kind == "V" and array.dtype.itemsize == 2:
        return array.view(ml_dtypes.bfloat16)
    return array


def check_input_names(expected: Sequence[str], given: Iterable[str], how: str = "") -> None:
    """Every expected input given and nothing else; ``how`` tells how to give a missing one."""
    given = set(given)
    unknown = sorted(given - set(expected))
    if unknown:
        raise InputError(f"unknown input(s) {', '.join(repr(n) for n in unknown)}; the model "
                         f"takes {', '.join(repr(n) for n in expected) or 'no inputs'}")
    missing = [name for name in expected if name not in given]
    if missing:
        raise InputError(f"missing input(s) {', '.join(repr(n) for n in missing)}"
                         + (f": {how}" if how else ""))


def bind_inputs(graph: Graph, given: Mapping[str, GivenInput]) -> dict[str, np.ndarray]:
    """Check the given arrays against the graph's inputs: every one present, known and typed."""
    check_input_names([v.name for v in graph.inputs], given,
                      "give each as --input NAME=FILE.npy or all in one --inputs FILE.npz")
    feeds = {}
    for v in graph.inputs:
        item = given[v.name]
        try:
            feeds[v.name] = check_input(v, _as_model_dtype(item.array, v.type.dtype))
        except InputError as e:
            raise InputError(f"{item.source}: {e}") from None
    return feeds


# ----- output names ------------------------------------------------------------------------
def safe_file_stems(names: Sequence[str]) -> dict[str, str]:
    """A distinct, harmless file stem for each tensor name (``"a/b:0"`` -> ``"a_b_0"``).

    Stems are unique even on case-insensitive file systems.
    """
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem = _UNSAFE_FILE_CHARS.sub("_", name).lstrip(".")[:_MAX_STEM] or "output"
        candidate, n = stem, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}_{n}"
        taken.add(candidate.lower())
        stems[name] = candidate
    return stems


# ----- writing, all or nothing ---------------------------------------------------------------
def _nearest_existing_dir(path: Path) -> Path:
    for candidate in path.absolute().parents:
        if candidate.is_dir():
            return candidate
    raise OutputError(f"{path}: no existing folder above it")  # only on a broken root


@contextmanager
def staging_dir(destination: Path) -> Iterator[Path]:
    """A hidden scratch folder on the file system of ``destination``; removed on exit."""
    root = destination if destination.is_dir() else _nearest_existing_dir(destination)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".leptonc-", suffix=".tmp", dir=root))
    except OSError as e:
        raise OutputError(f"cannot write to {root}: {e.strerror or e}") from None
    try:
        yield staging
    except OSError as e:
        raise OutputError(f"cannot write {destination}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staged: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)


def _check_not_folder(path: Path, option: str) -> None:
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; name the file to write")


def write_ir(graph: Graph, path: Path) -> list[Path]:
    """Write ``path`` (text IR) and, when the graph has large constants, ``path.bin``."""
    _check_not_folder(path, "-o")
    with staging_dir(path) as staging:
        staged = lir.save(graph, staging / path.name)
        # The weights go first, so a .lir never appears without the data it refers to.
        for file in sorted(staged, key=lambda p: p.suffix != ".bin"):
            publish(file, path.parent / file.name)
    written = [path.parent / file.name for file in staged]
    weights = path.with_name(path.name + ".bin")
    if weights not in written and weights.exists():
        weights.unlink()  # a stale side file from an earlier graph would mislead
    return written


def _storable(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == object:  # string tensors: .npy holds fixed-width unicode, not objects
        return array.astype(str)
    return array


def _write_npy(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def _write_npz(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    # Written by hand rather than np.savez, whose keyword arguments clash with tensor names
    # such as "file".
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, array, allow_pickle=False)


def check_output_target(out: Path) -> None:
    """Refuse an ``-o`` that can only fail, before any work is done."""
    if out.suffix.lower() == NPZ_SUFFIX:
        _check_not_folder(out, "-o")
    elif out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: exists and is not a folder (name a folder, or a file "
                         f"ending in {NPZ_SUFFIX})")


def write_outputs(outputs: Mapping[str, np.ndarray], out: Path) -> dict[str, Path]:
    """Save results as ``OUT/<name>.npy`` files, or as one archive when OUT ends in .npz.

    Returns where each output went (a file, or the archive for every output).
    """
    check_output_target(out)
    stems = safe_file_stems(list(outputs))
    arrays = {stems[name]: _storable(a) for name, a in outputs.items()}
    with staging_dir(out) as staging:
        if out.suffix.lower() == NPZ_SUFFIX:
            _write_npz(arrays, staging / out.name)
            publish(staging / out.name, out)
            return {name: out for name in outputs}
        if not out.exists():
            # A new folder appears whole, in one rename.
            folder = staging / "result"
            folder.mkdir()
            _write_arrays(arrays, folder)
            publish(folder, out)
        else:
            _write_arrays(arrays, staging)
            for stem in arrays:
                publish(staging / f"{stem}.npy", out / f"{stem}.npy")
    return {name: out / f"{stems[name]}.npy" for name in outputs}


def _write_arrays(arrays: Mapping[str, np.ndarray], folder: Path) -> None:
    for stem, array in arrays.items():
        _write_npy(array, folder / f"{stem}.npy")
