"""From records to what a reader sees: statistics (t quantiles, CIs, paired gaps),
tables, plots, verdicts and ``results/README.md``."""
