"""Summaries and plots of a results directory."""
