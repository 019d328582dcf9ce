"""Helpers for command-line tests (tests/test_cli.py, tests/passes/test_cli_passes.py)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def assert_one_line_error(result: CliResult, *mentions: str, code: int = 1) -> None:
    """The command failed with ``code`` and exactly one ``leptonc: error:`` line naming each
    of ``mentions``."""
    assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("leptonc: error: "), lines[0]
    for text in mentions:
        assert text in lines[0], (text, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to prove a failure wrote nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}
