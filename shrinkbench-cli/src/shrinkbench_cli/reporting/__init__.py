"""The report of results directories: summaries over seeds, terminal table, plots, HTML page, comparisons."""
