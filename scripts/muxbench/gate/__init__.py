"""The regression gate of scripts/compare.py: per-configuration statistics, low-noise signals,
the whole grid of paired runs, and the same-machine check."""
