"""The orchestration above runs and report: run an experiment's sweep, then summarize its
records into tables, plots and a verdict (``run_experiment``, ``report_experiment``). The
one path behind ``lab run``, ``lab report`` and ``lab reproduce``."""
