"""The figures of scripts/plot.py, one module per kind of plot."""
