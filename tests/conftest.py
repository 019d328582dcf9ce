"""Shared test setup: make the helpers in tools/ (model_zoo, minilm, ...) importable."""

import sys
from pathlib import Path

_TOOLS = Path(__file__).resolve().parent.parent / "tools"
if str(_TOOLS) not in sys.path:
    sys.path.insert(0, str(_TOOLS))
