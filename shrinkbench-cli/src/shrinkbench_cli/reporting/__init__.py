"""The report of results directories -- one experiment or a grid of (dataset, model) pairs and recipe variants:
summaries over seeds, terminal tables, plots and small multiples, the confounders section (rankings, Kendall's
tau, rank flips), the HTML page and its JSON twin, comparisons of directories, careful reading of the input."""
