"""Runs and records: the experiment protocol and scales, grids and run ids, executors,
the resumable sweep, crash-safe JSONL records and provenance (``run_experiment``, which
also reports, lives above in lab.pipeline)."""
