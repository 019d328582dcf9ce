"""Tunable knobs of leptonc's CPU schedule rules, with defaults for AVX2/AVX-512 hosts.

A config is a small frozen dataclass per rule.  The defaults are what an untuned compile
uses; the tuner (``targets/tvm/tuner.py``) walks each knob's ``search_space()`` from them,
measures each candidate on the machine and stores the winner (``to_json``/``from_json``) in
its database.

Tile sizes are *targets*: a rule takes the largest divisor of the loop extent that does not
exceed them (a non-dividing split would leave a bounds check in the micro-kernel), so one
config fits every shape of a kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from leptonc.errors import UsageError


@dataclass(frozen=True, slots=True)
class ContractionConfig:
    """Register-blocked micro-kernel for matmul, batch matmul, conv2d, depthwise conv and pools.

    The output tile held in registers is ``row_tile`` rows (an axis whose operand is
    broadcast: output channels of a conv, rows of a matmul) by ``row2_tile`` rows of a second
    output axis (a conv's output rows) by ``vector_tile`` elements of the output's innermost
    axis (vectorised).  ``inline_padding`` computes a conv's zero padding
    inside the micro-kernel instead of as a separate copy; ``unroll_reduction`` unrolls the
    innermost reduction loop (a 3x3 kernel's width) when its extent is at most that.
    """

    kind: ClassVar[str] = "contraction"
    vector_tile: int = 16
    row_tile: int = 8
    row2_tile: int = 2
    inline_padding: bool = False
    unroll_reduction: int = 0

    @staticmethod
    def search_space() -> dict[str, tuple]:
        return {"vector_tile": (8, 16, 32, 48, 64), "row_tile": (1, 2, 4, 6, 8, 12, 16),
                "row2_tile": (1, 2, 3, 4, 7),
                "inline_padding": (False, True), "unroll_reduction": (0, 3, 7)}


@dataclass(frozen=True, slots=True)
class ElementwiseConfig:
    """Injective kernels (activations, adds, transposes, concat, padding): fuse, split, vectorise."""

    kind: ClassVar[str] = "elementwise"
    vector_tile: int = 16

    @staticmethod
    def search_space() -> dict[str, tuple]:
        return {"vector_tile": (8, 16, 32, 64)}


@dataclass(frozen=True, slots=True)
class RowReductionConfig:
    """Softmax, layer-norm style kernels: one parallel row loop, vectorised inner loops."""

    kind: ClassVar[str] = "row_reduction"
    vector_tile: int = 16

    @staticmethod
    def search_space() -> dict[str, tuple]:
        return {"vector_tile": (8, 16, 32)}


@dataclass(frozen=True, slots=True)
class Int8DotConfig:
    """The VNNI int8 matmul of ``int8.py``: its tiles follow from the shape, nothing to tune."""

    kind: ClassVar[str] = "int8_dot"

    @staticmethod
    def search_space() -> dict[str, tuple]:
        return {}


RuleConfig = ContractionConfig | ElementwiseConfig | RowReductionConfig | Int8DotConfig
CONFIG_KINDS: dict[str, type] = {c.kind: c for c in (ContractionConfig, ElementwiseConfig,
                                                      RowReductionConfig, Int8DotConfig)}


def to_json(config: RuleConfig) -> dict[str, Any]:
    """The config as a JSON object that names its kind."""
    return {"kind": config.kind, **dataclasses.asdict(config)}


def from_json(data: dict[str, Any]) -> RuleConfig:
    """A config back from ``to_json``; unknown kinds or fields are a database from another version."""
    fields = dict(data)
    cls = CONFIG_KINDS.get(fields.pop("kind", None))
    if cls is None:
        raise UsageError(f"schedule database entry has an unknown rule kind: {data.get('kind')!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(fields) - known
    if unknown:
        raise UsageError(f"schedule database entry for {cls.kind} has unknown fields {sorted(unknown)}")
    return cls(**fields)
