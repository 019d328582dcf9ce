"""Compiler passes, importable as ``leptonc.passes`` (the pass-manager issue fills this in)."""
