"""Make the shared helpers next to these tests (onnx_cases) importable, whatever pytest's
import mode: ``from onnx_cases import one_node, assert_matches_ort``."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
