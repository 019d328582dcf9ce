"""Shared test setup: make the helpers in tools/ (model_zoo, minilm, ...) and in tests/
(cli_testing) importable, and the ``leptonc_cli`` fixture that runs the CLI in-process."""

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _folder in (_HERE.parent / "tools", _HERE):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from cli_testing import CliResult  # noqa: E402 - importable only once the path is set


@pytest.fixture
def leptonc_cli(capsys):
    """``leptonc_cli(*args) -> CliResult``: ``leptonc.cli.main`` with captured output."""
    from leptonc import cli

    def run(*args: str | Path) -> CliResult:
        code = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
