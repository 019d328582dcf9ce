"""Pruning: structured channel pruning over the channel dependency groups of
``leptonc.channels``."""
