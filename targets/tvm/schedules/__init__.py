"""leptonc's own TVM schedule rules (CPU): see ``cpu.py`` for the rule table."""

from .config import ContractionConfig, ElementwiseConfig, RowReductionConfig, RuleConfig
from .cpu import (
    KernelSchedule,
    ScheduleReport,
    cpu_schedule_pass,
    schedule_primfunc,
)

__all__ = [
    "ContractionConfig", "ElementwiseConfig", "KernelSchedule", "RowReductionConfig", "RuleConfig",
    "ScheduleReport", "cpu_schedule_pass", "schedule_primfunc",
]
