"""leptonc: an ahead-of-time compiler for neural networks.

    import leptonc
    graph = leptonc.load_onnx("model.onnx")      # or leptonc.from_torch(module, inputs)
    outputs = leptonc.run(graph, {"input": x})    # the reference interpreter
    print(leptonc.print_graph(graph))             # the text IR
"""

from leptonc.errors import LeptoncError
from leptonc.frontend.onnx import load_onnx
from leptonc.interp import Interpreter, run
from leptonc.ir.graph import Graph, Node, Value
from leptonc.ir.parser import parse_graph
from leptonc.ir.printer import print_graph
from leptonc.ir.serialize import load as load_ir
from leptonc.ir.serialize import save as save_ir
from leptonc.ir.verifier import verify
from leptonc.targets.tvm.artifact import load_artifact

__version__ = "0.1.0"


def from_torch(module, example_inputs, **kwargs) -> Graph:
    """Import a ``torch.nn.Module`` (see ``leptonc.frontend.torch``); needs torch installed."""
    from leptonc.frontend.torch import from_torch as _from_torch

    return _from_torch(module, example_inputs, **kwargs)


__all__ = ["Graph", "Interpreter", "LeptoncError", "Node", "Value", "from_torch", "load_artifact",
           "load_ir", "load_onnx", "parse_graph", "print_graph", "run", "save_ir", "verify", "__version__"]
