"""PyTorch frontend: ``from_torch(module, example_inputs) -> Graph``.

The module is exported with ``torch.onnx.export(dynamo=True)``: torch.export traces it into
an ATen graph, torch's ONNX translator (onnxscript) lowers that to ONNX in memory, and the
ONNX frontend (``load_onnx``) brings the ModelProto into the IR.  Reusing the ONNX
converters means a PyTorch model gets exactly the op coverage, constant folding and error
reporting that an ONNX file gets.  docs/frontends.md says why this path was chosen over a
direct torch.fx importer and over the TorchScript exporter.

torch is an optional dependency: it is imported when ``from_torch`` is called, never when
leptonc is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from leptonc.errors import ModelLoadError, UsageError
from leptonc.frontend.onnx import load_onnx
from leptonc.ir.graph import Graph

if TYPE_CHECKING:
    import onnx
    import onnx_ir
    import torch

# {input name: {axis: symbol}} or {input name: [axis, ...]}, as torch.onnx.export takes it.
DynamicAxes = Mapping[str, Mapping[int, str] | Sequence[int]]

_INSTALL_HINT = "install leptonc[torch] (pip install 'leptonc[torch]')"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def from_torch(module: torch.nn.Module, example_inputs: Any, *,
               input_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None,
               dynamic_axes: DynamicAxes | None = None,
               dynamic_shapes: Mapping[str, Any] | Sequence[Any] | None = None,
               opset: int | None = None) -> Graph:
    """Import a ``torch.nn.Module`` into a leptonc Graph.

    ``example_inputs`` is a tensor, a tuple of positional arguments or a dict of keyword
    arguments (numpy arrays are accepted too).  Graph inputs are named after the
    ``forward()`` parameters unless ``input_names`` is given; outputs after the keys of a
    returned dict (``output``, ``output_0``, ... otherwise) unless ``output_names`` is given.
    Dims are static unless ``dynamic_axes`` (ONNX style, keyed by input name, symbols
    become the IR's symbolic dims) or ``dynamic_shapes`` (torch.export style, keyed by
    ``forward()`` parameter) says otherwise.  ``opset`` defaults to the exporter's own.
    """
    model = export_onnx(module, example_inputs, input_names=input_names,
                        output_names=output_names, dynamic_axes=dynamic_axes,
                        dynamic_shapes=dynamic_shapes, opset=opset)
    return load_onnx(model, source=f"torch:{type(module).__name__}")


def export_onnx(module: torch.nn.Module, example_inputs: Any, *,
                input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None,
                dynamic_axes: DynamicAxes | None = None,
                dynamic_shapes: Mapping[str, Any] | Sequence[Any] | None = None,
                opset: int | None = None) -> onnx.ModelProto:
    """The ONNX model ``from_torch`` imports (same arguments), for tools that want the file."""
    torch = _import_torch()
    if not isinstance(module, torch.nn.Module):
        raise UsageError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    if dynamic_axes is not None and dynamic_shapes is not None:
        raise UsageError("from_torch: give dynamic_axes or dynamic_shapes, not both")
    args, kwargs = _split_example_inputs(torch, module, example_inputs)
    positional = _positional_slots(module, len(args))
    paths = _tensor_input_paths(torch, args, kwargs)
    names = (_checked_names(input_names, len(paths), "input") if input_names is not None
             else _derived_input_names(paths, positional))
    if dynamic_axes is not None:
        dynamic_shapes = _axes_to_dynamic_shapes(dynamic_axes, names, paths, positional, kwargs)
    with _eval_mode(module):
        program = _run_exporter(torch, module, args, kwargs, dynamic_shapes, opset)
    _check_opset(program.model, opset, type(module).__name__)
    graph = program.model.graph
    graph.name = type(module).__name__
    if len(graph.inputs) != len(names):  # one graph input per example tensor, in pytree order
        raise ModelLoadError(f"from_torch: {type(module).__name__}: the exporter made "
                             f"{len(graph.inputs)} graph inputs from {len(names)} example tensors")
    _rename(graph, graph.inputs, names)
    _rename(graph, graph.outputs, _output_names(torch, program, output_names, set(names)))
    return program.model_proto


# ----- torch, lazily ---------------------------------------------------------------------------
def _import_torch():
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise UsageError(f"from_torch needs PyTorch, which is not installed: {_INSTALL_HINT}"
                         ) from None
    if importlib.util.find_spec("onnxscript") is None:
        raise UsageError("from_torch needs onnxscript (torch's ONNX exporter), which is not "
                         f"installed: {_INSTALL_HINT}")
    return torch


# ----- example inputs and their names ----------------------------------------------------------
def _split_example_inputs(torch, module, example_inputs: Any) -> tuple[tuple, dict]:
    """(args, kwargs) for the exporter; kwargs in forward()'s parameter order."""
    if isinstance(example_inputs, Mapping):
        kwargs = {k: _as_tensor(torch, v) for k, v in example_inputs.items()}
        order = {p.name: i for i, p in enumerate(_signature_parameters(module))}
        ordered = sorted(kwargs, key=lambda k: order.get(k, len(order)))
        return (), {k: kwargs[k] for k in ordered}
    if isinstance(example_inputs, tuple | list):
        return tuple(_as_tensor(torch, v) for v in example_inputs), {}
    return (_as_tensor(torch, example_inputs),), {}


def _as_tensor(torch, value: Any) -> Any:
    """numpy arrays become tensors; everything else goes to the exporter as given."""
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def _signature_parameters(module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):  # a forward() without a Python signature
        return []


def _positional_slots(module, num_args: int) -> list[tuple[str, int | None]]:
    """For each positional argument: its forward() parameter, and its index when that
    parameter is ``*args`` (None otherwise)."""
    params = _signature_parameters(module)
    named = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                 inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    varargs = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL),
                   "input")
    slots: list[tuple[str, int | None]] = [(name, None) for name in named[:num_args]]
    return slots + [(varargs, i) for i in range(num_args - len(slots))]


def _slot_name(slot: tuple[str, int | None]) -> str:
    name, index = slot
    return name if index is None else f"{name}_{index}"


def _tensor_input_paths(torch, args: tuple, kwargs: dict) -> list[tuple]:
    """The pytree key path of every tensor among the inputs, in the exporter's input order.

    A path starts with the position in ``(args, kwargs)``, then the argument (its index or
    keyword), then the way into a nested container, if any.
    """
    from torch.utils import _pytree as pytree

    flat, _ = pytree.tree_flatten_with_path((args, kwargs))
    return [tuple(path) for path, leaf in flat if isinstance(leaf, torch.Tensor)]


def _key_part(key: Any) -> str:
    for attr in ("key", "idx", "name"):  # MappingKey, SequenceKey, GetAttrKey
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _argument_name(path: tuple, positional: list[tuple[str, int | None]]) -> str:
    """The forward() parameter (or keyword) a tensor input path starts at."""
    return _slot_name(positional[path[1].idx]) if path[0].idx == 0 else _key_part(path[1])


def _derived_input_names(paths: list[tuple], positional: list[tuple[str, int | None]]
                         ) -> list[str]:
    """forward()'s parameter names; a tensor nested in an argument adds its keys (``xs_0``)."""
    names = ["_".join([_argument_name(p, positional), *(_key_part(k) for k in p[2:])])
             for p in paths]
    return _deduplicated(names, set())


def _checked_names(given: Sequence[str], count: int, what: str) -> list[str]:
    if isinstance(given, str):
        raise UsageError(f"from_torch: {what}_names must be a list of names, not a string")
    names = list(given)
    if len(names) != count:
        raise UsageError(f"from_torch: the module has {count} tensor {what}(s), "
                         f"{what}_names gives {len(names)}")
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise UsageError(f"from_torch: {what}_names must be distinct non-empty strings")
    return names


def _deduplicated(names: list[str], taken: set[str]) -> list[str]:
    """Derived names made unique (``x``, ``x_1``, ...): ONNX needs one name per tensor."""
    taken = set(taken)
    result = []
    for name in names:
        unique, n = name, 0
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique)
        result.append(unique)
    return result


# ----- dynamic dims ----------------------------------------------------------------------------
def _axes_to_dynamic_shapes(dynamic_axes: DynamicAxes, names: list[str], paths: list[tuple],
                            positional: list[tuple[str, int | None]], kwargs: dict
                            ) -> dict[str, Any]:
    """ONNX-style ``dynamic_axes`` as torch.export ``dynamic_shapes`` with named dims.

    torch.onnx.export turns a string dim into ``Dim.DYNAMIC`` and names the ONNX dim after
    it, so the symbols chosen here are the symbolic dims the IR ends up with.  The result is
    keyed by forward() parameter, ``*args`` holding a list, as torch.export wants it.
    """
    if not isinstance(dynamic_axes, Mapping):
        raise UsageError("from_torch: dynamic_axes must map input names to axes")
    shapes: dict[str, Any] = {}
    for name, index in positional:
        shapes[name] = None if index is None else [*shapes.get(name, []), None]
    shapes.update(dict.fromkeys(kwargs))
    whole_arguments = {name: path[1] for name, path in zip(names, paths, strict=True)
                       if len(path) == 2}
    for name, axes in dynamic_axes.items():
        if name not in whole_arguments:
            known = ", ".join(whole_arguments) or "none"
            raise UsageError(f"from_torch: dynamic_axes names '{name}', which is not a tensor "
                             f"argument of the module (it can name: {known}); use "
                             "dynamic_shapes for tensors nested in an argument")
        if isinstance(axes, Mapping):
            dims = {int(axis): str(symbol) for axis, symbol in axes.items()}
        else:
            dims = {int(axis): f"{name}_dim{int(axis)}" for axis in axes}
        key = whole_arguments[name]
        if hasattr(key, "key"):  # a keyword argument
            shapes[key.key] = dims
        elif positional[key.idx][1] is None:
            shapes[positional[key.idx][0]] = dims
        else:
            shapes[positional[key.idx][0]][positional[key.idx][1]] = dims
    # torch.export matches the structure of the inputs: ``*args`` arrives as a tuple.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in shapes.items()}


# ----- the exporter ----------------------------------------------------------------------------
@contextlib.contextmanager
def _eval_mode(module) -> Iterator[None]:
    """Export in eval mode (dropout off, batch-norm statistics frozen); restore afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _run_exporter(torch, module, args: tuple, kwargs: dict, dynamic_shapes: Any,
                  opset: int | None):
    try:
        return torch.onnx.export(module, args, kwargs=kwargs or None, dynamo=True,
                                 dynamic_shapes=dynamic_shapes, opset_version=opset,
                                 verbose=False, report=False, dump_exported_program=False,
                                 optimize=True)
    except Exception as e:  # the exporter raises anything from anywhere in the model
        raise ModelLoadError(_export_failure(type(module).__name__, e)) from e


def _check_opset(model: onnx_ir.Model, wanted: int | None, module_class: str) -> None:
    """Below its native opset the exporter down-converts with onnx's version converter and,
    when that fails, keeps the native opset with only a log message: make that an error."""
    got = model.opset_imports.get("")
    if wanted is not None and got != wanted:
        raise ModelLoadError(f"from_torch: cannot export {module_class} at opset {wanted}: the "
                             f"exporter could not convert it and produced opset {got}; use "
                             f"opset={got} or leave opset unset")


def _export_failure(module_class: str, error: BaseException) -> str:
    """One line: which module, which export step, and the first line of the root error."""
    stage = {"TorchExportError": "torch.export could not trace it",
             "ConversionError": "its ATen graph could not be translated to ONNX"
             }.get(type(error).__name__, "torch.onnx.export failed")
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    lines = [ln.strip() for ln in _ANSI.sub("", str(root)).splitlines() if ln.strip()]
    first = lines[0] if lines else "(no message)"
    if first.endswith(":") and len(lines) > 1:  # "... the following conflicts:" + the first
        first = f"{first} {lines[1]}"
    return f"from_torch: cannot export {module_class} ({stage}): {type(root).__name__}: {first}"


# ----- naming the exported graph's inputs and outputs ------------------------------------------
def _output_names(torch, program, given: Sequence[str] | None,
                  input_names: set[str]) -> list[str] | None:
    """Names for the graph outputs, or None to keep the exporter's (``linear_1``...)."""
    count = len(program.model.graph.outputs)
    if given is not None:
        names = _checked_names(given, count, "output")
        clash = sorted(input_names.intersection(names))
        if clash:
            raise UsageError(f"from_torch: output name(s) {', '.join(clash)} are input names")
        return names
    names = _names_from_output_structure(torch, program.exported_program.call_spec.out_spec)
    if names is None or len(names) != count:  # non-tensor leaves are not graph outputs
        return None
    return _deduplicated(names, input_names)


def _names_from_output_structure(torch, out_spec) -> list[str] | None:
    """``output`` for one tensor, ``output_<i>`` for a tuple, the keys of a dict (nested
    parts joined by ``_``).  None when the structure cannot be rebuilt (custom containers)."""
    from torch.utils import _pytree as pytree

    try:
        # Rebuild the returned structure around placeholder tensors, to read each leaf's path.
        placeholder = pytree.tree_unflatten([torch.empty(0)] * out_spec.num_leaves, out_spec)
        flat, _ = pytree.tree_flatten_with_path(placeholder)
    except Exception:  # a third-party container whose constructor rejects placeholders
        return None
    names = []
    for path, _ in flat:
        parts = [_key_part(k) for k in path]
        if not parts or hasattr(path[0], "idx"):  # a bare tensor, or a tuple position
            parts.insert(0, "output")
        names.append("_".join(parts))
    return names


def _rename(graph: onnx_ir.Graph, values: Sequence[onnx_ir.Value], names: list[str] | None
            ) -> None:
    """Give graph inputs or outputs their public names.  A value already holding one of
    those names (an exporter-named intermediate, or another of ``values``) moves aside to a
    fresh name first."""
    if names is None:
        return
    by_name = {v.name: v for v in _all_values(graph)}
    for value, name in zip(values, names, strict=True):
        holder = by_name.get(name)
        if holder is not None and holder is not value:
            aside = _deduplicated([name], {*by_name, *names})[0]
            holder.name = aside
            by_name[aside] = holder
        by_name.pop(value.name, None)
        value.name = name
        by_name[name] = value


def _all_values(graph: onnx_ir.Graph) -> Iterator[onnx_ir.Value]:
    yield from graph.inputs
    yield from graph.initializers.values()
    for node in graph.all_nodes():
        yield from node.outputs
