"""muxbench's Python side: reading sweeps, their statistics, the regression gate, the plots and
the report. The scripts in scripts/ (compare.py, plot.py, report.py, crosscheck,
ci-perf-selftest) put scripts/ on sys.path and import from here.
"""
