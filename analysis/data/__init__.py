"""Package data for the analysis: published.csv, the papers' numbers one cell per row.

Copied from the project's reference folder so an installed wheel can compare results with the papers.
"""
