"""The report of scripts/report.py: its content and its Markdown and HTML renderings."""
