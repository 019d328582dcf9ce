"""The pass reference: what ``leptonc --list-passes`` prints and tools/gen_pass_docs.py writes
to docs/passes.md, entry for entry.

An entry is a pass's summary (the first paragraph of its file, ``<pass name>: <summary>``),
its docstring, its options with types and defaults, the rewrite rules it applies (for
``--debug-rules``), the properties it requires and ensures, and an example pipeline.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import shlex
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from leptonc.passmgr import Pass, named_pipelines, pass_options

REFERENCE_WIDTH = 92
_LABEL_WIDTH = 11
_DEFAULT_TOLERANCE = (Pass.rtol, Pass.atol)


# ----- where a pass lives, and its rules ------------------------------------------------------
def pass_family(cls: type[Pass]) -> str:
    """The folder under ``passes/`` a pass lives in (``canonical``, ``fusion``, ...)."""
    parts = cls.__module__.split(".")
    return parts[2] if parts[:2] == ["leptonc", "passes"] and len(parts) > 3 else "other"


def family_summary(family: str) -> str:
    """The first line of the family package's docstring ('' for passes from elsewhere)."""
    try:
        doc = importlib.import_module(f"leptonc.passes.{family}").__doc__ or ""
    except ImportError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def passes_by_family(passes: dict[str, type[Pass]]) -> dict[str, list[type[Pass]]]:
    """Passes grouped by family, families sorted by name, passes kept in their order."""
    by_family: dict[str, list[type[Pass]]] = {}
    for cls in passes.values():
        by_family.setdefault(pass_family(cls), []).append(cls)
    return dict(sorted(by_family.items()))


def rule_names(cls: type[Pass]) -> list[str]:
    """The names of the rewrite rules a pass applies: those of its ``rules`` class attribute,
    the convention of rule-based passes (none for other passes)."""
    return list(dict.fromkeys(rule.name for rule in getattr(cls, "rules", ())))


# ----- summary and details ---------------------------------------------------------------------
def _docstring(cls: type[Pass]) -> str:
    doc = cls.__doc__ or ""
    # A dataclass without a docstring gets its signature as one, which documents nothing.
    generated = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    return "" if doc == generated else inspect.cleandoc(doc)


def _module_summary(cls: type[Pass]) -> str:
    """The summary a pass's file starts with, by convention ``<pass name>: <summary>``."""
    module = sys.modules.get(cls.__module__)
    first = inspect.cleandoc(getattr(module, "__doc__", None) or "").split("\n\n")[0]
    head, colon, summary = first.partition(":")
    return " ".join(summary.split()) if colon and head.strip() == cls.name else ""


def _summary_and_details(cls: type[Pass]) -> tuple[str, list[str]]:
    """The one-paragraph summary and the paragraphs of detail of a pass: the summary of its
    file and its docstring, or else the docstring's first paragraph and the rest."""
    paragraphs = [p for p in _docstring(cls).split("\n\n") if p.strip()]
    if summary := _module_summary(cls):
        return summary, paragraphs
    if not paragraphs:
        return "(undocumented)", []
    return " ".join(paragraphs[0].split()), paragraphs[1:]


def pass_summary(cls: type[Pass]) -> str:
    """What a pass does, in one paragraph on one line."""
    return _summary_and_details(cls)[0]


# ----- fields ----------------------------------------------------------------------------------
def _type_name(kind: Any) -> str:
    if kind == tuple[str, ...]:
        return "names (a:b:c)"
    return getattr(kind, "__name__", str(kind))


def _default_text(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "(required)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        value = ":".join(map(str, value))
    return '""' if value == "" else str(value)


def _option_lines(cls: type[Pass]) -> list[str]:
    return [f"{name}: {_type_name(kind)} = {_default_text(default)}"
            for name, (kind, default) in pass_options(cls).items()] or ["none"]


def _field(label: str, lines: Sequence[str]) -> list[str]:
    return [f"{label if i == 0 else '':<{_LABEL_WIDTH}}{line}" for i, line in enumerate(lines)]


def describe_pass(cls: type[Pass]) -> list[str]:
    """A pass's reference entry: summary, details, options, rules, properties, example."""
    summary, details = _summary_and_details(cls)
    lines = textwrap.wrap(summary, REFERENCE_WIDTH - 4)
    for paragraph in details:  # kept as written: they may hold lists or code
        lines += ["", *paragraph.splitlines()]
    lines.append("")
    lines += _field("options", _option_lines(cls))
    if rules := rule_names(cls):
        lines += _field("rules", textwrap.wrap(", ".join(rules), REFERENCE_WIDTH - 4 - _LABEL_WIDTH,
                                               break_on_hyphens=False))
    for label, names in (("requires", cls.requires), ("ensures", cls.ensures),
                         ("invalidates", cls.invalidates)):
        if names or label != "invalidates":
            lines += _field(label, [", ".join(names) or "none"])
    if (cls.rtol, cls.atol) != _DEFAULT_TOLERANCE:
        lines += _field("tolerance", [f"rtol {cls.rtol:g}, atol {cls.atol:g} "
                                      "(--validate-each allows this drift)"])
    example = cls.example or cls.name
    lines += _field("example", [f"leptonc MODEL --passes {shlex.quote(example)}"])
    return lines


# ----- the whole reference ---------------------------------------------------------------------
def describe_named_pipelines() -> list[str]:
    """One line per named pipeline: how to ask for it, and its passes."""
    flags = {name: f"-{name}" if re.fullmatch(r"O\d", name) else f"--passes {name}"
             for name in named_pipelines()}
    width = max(map(len, flags.values())) + 2
    return [f"{flags[name]:<{width}}{pipeline or '(no passes)'}"
            for name, pipeline in named_pipelines().items()]


def format_pass_list(passes: dict[str, type[Pass]]) -> str:
    """What ``leptonc --list-passes`` prints: every pass, by family, then the named pipelines."""
    lines = ["Passes run in the order given: --passes 'pass-a,pass-b{option=value,...}'.",
             "Boolean options take true/false; name lists are written a:b:c.",
             "--debug-rules RULE explains why a rule listed under 'rules' did not match."]
    for family, members in passes_by_family(passes).items():
        summary = family_summary(family)
        lines += ["", f"{family}" + (f": {summary}" if summary else "")]
        for cls in members:
            lines += ["", f"  {cls.name}"]
            lines += [f"    {line}".rstrip() for line in describe_pass(cls)]
    lines += ["", "Named pipelines (-O<n>)"]
    lines += [f"  {line}" for line in describe_named_pipelines()]
    return "\n".join(lines) + "\n"
