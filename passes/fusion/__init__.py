"""Fusion: batch-norm folding, epilogue and elementwise fusion, transformer patterns."""
