"""Canonicalization: folding, dead code, CSE, no-op removal, chain folding, algebra."""
