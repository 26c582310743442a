"""Runs and records: the experiment protocol and scales, grids and run ids, executors,
the resumable sweep, crash-safe JSONL records, provenance, and ``run_experiment``."""
