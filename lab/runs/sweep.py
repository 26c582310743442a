"""Sweeps: a grid of configs -> an executor -> one durable record per run, resumable.

A run's id is a hash of its resolved config (:func:`run_id`), so a rerun of the same grid
finds the runs already done in ``out_dir/results.jsonl`` and skips them; failed runs are
retried. Records are written only by the driver process, one line per finished run
(:mod:`lab.runs.records`), so a sweep killed at any moment loses only the runs in flight and
never duplicates one.

Executors (each yields records as runs finish; the driver appends them):

- ``"local"``: in this process, one run after another.
- ``"pool"``: a spawn-context process pool of ``workers`` processes, each with
  ``torch.set_num_threads(max(1, cores // workers))`` so the cores are not
  oversubscribed. A worker that dies (SIGKILL, segfault, out of memory) breaks the pool;
  the runs that were in flight are retried one at a time in a fresh pool, and a run that
  kills its worker when alone is recorded as failed. The sweep goes on.
- ``"ray"``: Ray tasks (``pip install 'lab[ray]'``), on a local Ray runtime of
  ``workers`` task slots, or on the cluster at ``address`` (one CPU per task; with
  ``workers=1`` as many tasks in flight as the cluster has CPUs). Each node must hold
  the same checkout at the same path (experiment scripts are loaded by name from it).

Workers load experiment modules by name with :func:`lab.runs.experiment.load`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from lab.errors import UsageError
from lab.runs import experiment as _experiment
from lab.runs import provenance
from lab.runs.records import append_record, check_writable, load_records, results_path

__all__ = [
    "EXECUTORS",
    "canonical_json",
    "execute_run",
    "expand_grid",
    "load_records",
    "results_path",
    "run_id",
    "run_sweep",
    "threads_per_worker",
]

EXECUTORS = ("local", "pool", "ray")
SWEEP_LOCK = ".sweep.lock"
ID_LENGTH = 16  # hex digits of sha256: 64 bits, collisions negligible for any sweep


# ----------------------------------------------------------------------------- grids, ids


def expand_grid(base: dict, **axes: list) -> list[dict]:
    """The cartesian product of ``axes`` over ``base``, in a stable order: the first axis
    varies slowest, values in the order given.

    >>> expand_grid({"lr": 0.1}, model=["a", "b"], seed=[0, 1])  # doctest: +NORMALIZE_WHITESPACE
    [{'lr': 0.1, 'model': 'a', 'seed': 0}, {'lr': 0.1, 'model': 'a', 'seed': 1},
     {'lr': 0.1, 'model': 'b', 'seed': 0}, {'lr': 0.1, 'model': 'b', 'seed': 1}]
    """
    if not isinstance(base, dict):
        raise TypeError(f"base must be a dict, got {type(base).__name__}")
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, range)):
            raise TypeError(
                f"axis {name!r} must be a list of values, got {type(values).__name__}: {values!r}"
            )
        if len(values) == 0:
            raise ValueError(f"axis {name!r} is empty: the grid would hold no run")
        if name in base:
            raise ValueError(f"axis {name!r} is also a key of base; give it in one place only")
    names = list(axes)
    return [
        {**base, **dict(zip(names, values, strict=True))}
        for values in itertools.product(*(axes[n] for n in names))
    ]


def canonical_json(config: dict) -> str:
    """The config as canonical JSON: sorted keys, no spaces, ASCII. Raises TypeError for a
    config that JSON cannot hold exactly (tuples become lists; NaN/inf are refused)."""
    if not isinstance(config, dict):
        raise TypeError(f"a config must be a dict, got {type(config).__name__}")
    try:
        return json.dumps(
            config, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise TypeError(f"config is not JSON-serialisable ({err}): {config!r}") from err


def run_id(config: dict) -> str:
    """A stable id for a config: the first 16 hex digits of the sha256 of its canonical
    JSON. Independent of key order, process and Python version; ``1`` and ``1.0`` differ."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:ID_LENGTH]


# ----------------------------------------------------------------------------- one run


def threads_per_worker(workers: int) -> int:
    """max(1, usable cores // workers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def _set_threads(threads: int) -> None:
    """Give this worker process ``threads`` intra-op threads. Through the environment when
    torch is not imported yet (torch reads OMP_NUM_THREADS when it loads; the worker then
    does not pay for importing torch before a run needs it), directly otherwise."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


_MODULES: dict[tuple[str, str], ModuleType] = {}


def _load(name: str, experiments_dir: str | None) -> ModuleType:
    """Load (once per process) the experiment ``name`` from ``experiments_dir``."""
    if experiments_dir is not None:
        os.environ["LAB_EXPERIMENTS_DIR"] = experiments_dir
    key = (name, str(_experiment.experiments_dir()))
    if key not in _MODULES:
        _MODULES[key] = _experiment.load(name)
    return _MODULES[key]


def _base_record(name: str, config: dict, command: str) -> dict:
    commit = provenance.git_commit()
    return {
        "id": run_id(config),
        "experiment": name,
        "config": config,
        "command": command,
        "commit": commit["sha"],
        "dirty": commit["dirty"],
        "host": platform.node(),
    }


def execute_run(
    module: ModuleType | str,
    config: dict,
    command: str = "",
    experiments_dir: str | None = None,
) -> dict:
    """Run one config and return its record; an exception in ``run`` gives a record with
    status "failed" and the traceback, never a raise (KeyboardInterrupt excepted)."""
    if isinstance(module, str):
        module = _load(module, experiments_dir)
    record = _base_record(module.NAME, config, command)
    record["started"] = provenance.now()
    start = time.perf_counter()
    try:
        metrics = module.run(dict(config))  # a copy: run() must not alter the id's config
        if not isinstance(metrics, dict):
            raise TypeError(f"run() must return a dict of metrics, got {type(metrics).__name__}")
        json.dumps(metrics, allow_nan=True)  # fail here, inside the run, not in the writer
        record.update(status="ok", metrics=metrics, error=None)
    except Exception:
        record.update(status="failed", metrics=None, error=traceback.format_exc())
    record["wall_s"] = time.perf_counter() - start
    record["finished"] = provenance.now()
    record["device"], record["threads"] = _device_and_threads(config)
    record["versions"] = provenance.library_versions()
    return record


def _device_and_threads(config: dict) -> tuple[str, int | None]:
    """The device description and torch's thread count (a config's own ``threads``, which
    the run pinned while it ran, where it has one); a run that never imported torch ran
    on the CPU (its thread budget is then OMP_NUM_THREADS, if set)."""
    if "torch" not in sys.modules:
        threads = os.environ.get("OMP_NUM_THREADS", "")
        return "cpu (torch not used)", int(threads) if threads.isdigit() else None
    pinned = config.get("threads")
    threads = pinned if isinstance(pinned, int) and pinned > 0 else provenance.thread_count()
    try:
        device = provenance.describe_device(str(config.get("device", "auto")), threads)
    except Exception as err:  # a bad device name is the run's error, already recorded
        device = f"unknown ({err})"
    return device, threads


def _crash_record(name: str, config: dict, command: str, error: str) -> dict:
    """The record of a run whose worker died without returning."""
    record = _base_record(name, config, command)
    record.update(
        status="failed",
        metrics=None,
        error=error,
        wall_s=None,
        started=None,
        finished=provenance.now(),
        device=None,
        threads=None,
        versions=provenance.library_versions(),
    )
    return record


# ----------------------------------------------------------------------------- executors

Task = dict  # {"name", "config", "command", "experiments_dir"}


def _run_local(module: ModuleType, tasks: list[Task], workers: int, address) -> Iterator[dict]:
    for task in tasks:
        yield execute_run(module, task["config"], task["command"])


def _pool_init(threads: int, experiments_dir: str | None) -> None:
    if experiments_dir is not None:
        os.environ["LAB_EXPERIMENTS_DIR"] = experiments_dir
    _set_threads(threads)
    _exit_with_parent()


def _exit_with_parent(every: float = 0.5) -> None:
    """End this worker when the sweep that started it is gone (SIGTERM, kill -9): its
    run would be redone on resume anyway, and an orphan holds a core and its memory until
    the run ends (a standard-scale run: an hour). The parent's death shows as a new
    parent pid (the process is re-parented), on every POSIX system."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_pool(module: ModuleType, tasks: list[Task], workers: int, address) -> Iterator[dict]:
    """Bounded in-flight scheduling (at most ``workers`` submitted), so that when a worker
    dies the runs in flight are exactly the suspects. Suspects then run alone; one that
    breaks the pool alone is the culprit and is recorded as failed."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    threads = threads_per_worker(workers)
    queue = list(tasks)
    suspects: list[Task] = []

    def new_pool() -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_pool_init,
            initargs=(threads, tasks[0]["experiments_dir"]),
        )
        # A worker that cannot even start would otherwise make every run look like a
        # crash; fail the sweep with the likely cause instead.
        try:
            pool.submit(_ping).result()
        except BrokenProcessPool as err:
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(
                "the pool's worker processes die while starting. With the spawn start "
                "method each worker re-imports the main script: guard its entry point with "
                "`if __name__ == '__main__':`"
            ) from err
        return pool

    pool = new_pool()
    in_flight: dict[Future, Task] = {}

    def fill() -> bool:
        """Submit suspects one at a time and alone, otherwise up to ``workers`` tasks.
        False if the pool broke before taking a task (a worker died since the last
        wait): the task goes back where it came from, never having run."""
        if not in_flight and suspects:
            source, alone = suspects, True
        elif not suspects:
            source, alone = queue, False
        else:
            return True
        while source and len(in_flight) < (1 if alone else workers):
            task = source.pop(0)
            try:
                future = pool.submit(_pool_execute, task)
            except BrokenProcessPool:
                source.insert(0, task)
                return False
            task["_alone"] = alone
            in_flight[future] = task
        return True

    try:
        while queue or suspects or in_flight:
            broken = not fill()
            done = set() if broken else wait(in_flight, return_when=FIRST_COMPLETED)[0]
            for future in done:
                task = in_flight.pop(future)
                record = _outcome(future, task)
                if record is not None:
                    yield record
                    continue
                broken = True
                if task.get("_alone"):
                    yield _crash_record(
                        task["name"],
                        task["config"],
                        task["command"],
                        "the worker process died while running this config alone "
                        "(killed by a signal, a segfault or out of memory)",
                    )
                else:
                    suspects.append(task)
            if broken:
                # Every other in-flight future fails too; they are suspects as well.
                for future, task in list(in_flight.items()):
                    record = _outcome(future, task)
                    if record is None:
                        suspects.append(task)
                    else:
                        yield record
                in_flight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
    except BaseException:  # Ctrl-C, SIGTERM, the consumer gone: the runs in flight end too
        _terminate_workers(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool's worker processes now: shutdown() waits for the runs they are in (at
    exit too), which may take an hour; they are redone on resume."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


def _outcome(future: Future, task: Task) -> dict | None:
    """The record a finished future holds; None if its worker died (the pool broke)."""
    try:
        return future.result()
    except BrokenProcessPool:
        return None
    except Exception:  # e.g. the worker could not load the script: the run's failure
        return _crash_record(task["name"], task["config"], task["command"], traceback.format_exc())


def _ping() -> bool:
    return True


def _pool_execute(task: Task) -> dict:
    return execute_run(task["name"], task["config"], task["command"], task["experiments_dir"])


def _ray_execute(task: Task, threads: int) -> dict:
    _set_threads(threads)
    return _pool_execute(task)


def _run_ray(module: ModuleType, tasks: list[Task], workers: int, address) -> Iterator[dict]:
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "the ray executor needs Ray: pip install 'lab[ray]' (or pip install ray)"
        ) from err
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": address, "include_dashboard": False, "log_to_driver": True}
        if address is None:  # a local runtime sized to this sweep
            kwargs["num_cpus"] = workers * threads_per_worker(workers)
        ray.init(**kwargs)
    try:
        cluster_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if address is not None and workers <= 1:  # a cluster: as wide as it is
            workers = cluster_cpus
        # A task asking for more CPUs than the runtime has would never be scheduled.
        threads = 1 if address is not None else min(threads_per_worker(workers), cluster_cpus)
        remote = ray.remote(_ray_execute).options(num_cpus=threads, max_retries=0)
        queue = list(tasks)
        in_flight: dict = {}
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                task = queue.pop(0)
                in_flight[remote.remote(task, threads)] = task
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                task = in_flight.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as err:  # the worker died or Ray failed the task
                    yield _crash_record(
                        task["name"], task["config"], task["command"], f"ray task failed: {err!r}"
                    )
    finally:
        if started_here:
            ray.shutdown()


_EXECUTOR_FUNCTIONS: dict[str, Callable[..., Iterator[dict]]] = {
    "local": _run_local,
    "pool": _run_pool,
    "ray": _run_ray,
}


# ----------------------------------------------------------------------------- the sweep


def _resolve_experiment(experiment: ModuleType | str) -> ModuleType:
    if isinstance(experiment, str):
        return _experiment.load(experiment)
    if isinstance(experiment, ModuleType):
        missing = [a for a in _experiment.REQUIRED if not hasattr(experiment, a)]
        if missing:
            raise ValueError(f"experiment module {experiment.__name__} lacks {missing}")
        return experiment
    raise TypeError(
        f"experiment must be a module or a name, got {type(experiment).__name__}: {experiment!r}"
    )


def _check_unique(configs: list[dict]) -> list[str]:
    ids = [run_id(c) for c in configs]
    seen: dict[str, int] = {}
    for index, rid in enumerate(ids):
        if rid in seen:
            raise ValueError(
                f"configs {seen[rid]} and {index} are identical ({configs[index]!r}): a grid "
                "must not repeat a run (did it forget a seed axis?)"
            )
        seen[rid] = index
    return ids


def run_sweep(
    experiment: ModuleType | str,
    configs: Iterable[dict],
    out_dir: str | os.PathLike,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
    scale: str | None = None,
) -> list[dict]:
    """Run every config not already finished ok in ``out_dir/results.jsonl`` and return the
    records of all ``configs`` (latest per id, in the configs' order: finished earlier,
    failed and new alike). ``scale``, when given, is written into every new record (a
    folder's scale is then read from its records, not guessed from their command).

    ``experiment`` is an experiment module or its name; the pool and Ray executors pass the
    name to their workers, which load the script with :func:`lab.runs.experiment.load`.
    """
    module = _resolve_experiment(experiment)
    name = module.NAME
    configs = list(configs)
    for index, config in enumerate(configs):
        if not isinstance(config, dict):
            raise TypeError(f"config {index} must be a dict, got {type(config).__name__}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    ids = _check_unique(configs)
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        # checked before any folder or lock is made, so a refused sweep leaves nothing
        raise UsageError("the ray executor needs Ray: pip install 'lab[ray]' (or pip install ray)")
    experiments_dir = None
    if executor != "local":
        script = _experiment.experiments_dir() / f"{name}.py"
        if not script.is_file():
            raise ValueError(
                f"the {executor} executor loads experiments by name, but {script} does not "
                "exist; use executor='local' for a module not in the experiments directory"
            )
        experiments_dir = str(_experiment.experiments_dir().resolve())
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} is a file; expected a results directory")
    out_dir.mkdir(parents=True, exist_ok=True)

    with _sweep_lock(out_dir):
        existing = {
            r["id"]: r for r in load_records(out_dir) if r.get("experiment") == name and "id" in r
        }
        done = {rid for rid, r in existing.items() if r.get("status") == "ok"}
        command = provenance.command_line()
        tasks = [
            {"name": name, "config": c, "command": command, "experiments_dir": experiments_dir}
            for c, rid in zip(configs, ids, strict=True)
            if rid not in done
        ]
        if tasks:
            check_writable(out_dir)  # now, not after the first run's compute is spent

        bar = _progress_bar(
            name, total=len(configs), initial=len(configs) - len(tasks), on=progress
        )
        failed = 0
        try:
            if tasks:
                for record in _EXECUTOR_FUNCTIONS[executor](module, tasks, workers, address):
                    if scale is not None:
                        record["scale"] = scale
                    append_record(out_dir, record)
                    existing[record["id"]] = record
                    failed += record["status"] != "ok"
                    bar.set_postfix(failed=failed, refresh=False)
                    bar.update(1)
        finally:
            bar.close()
        return [existing[rid] for rid in ids if rid in existing]


@contextmanager
def _sweep_lock(out_dir: Path) -> Iterator[None]:
    """One sweep per results directory at a time: two drivers reading the same "done"
    set would both run the pending configs and duplicate their records."""
    from lab.atomic import exclusive_lock

    with exclusive_lock(
        out_dir / SWEEP_LOCK,
        f"another sweep is running into {out_dir} (it holds {out_dir / SWEEP_LOCK}); "
        "wait for it or use another --out",
    ):
        yield


class _LogProgress:
    """Progress for a stderr that is not a terminal (a log file, a pipe): a plain line
    every ``every`` seconds and at the end, never a bar redrawn with carriage returns."""

    def __init__(self, name: str, total: int, initial: int, every: float = 30.0) -> None:
        self.name, self.total, self.done, self.every = name, total, initial, every
        self.start = self.last = time.monotonic()
        self.new, self.failed, self.printed = 0, 0, -1

    def update(self, n: int = 1) -> None:
        self.done += n
        self.new += n
        if time.monotonic() - self.last >= self.every or self.done >= self.total:
            self._line()

    def set_postfix(self, failed: int = 0, refresh: bool = False) -> None:
        self.failed = failed

    def close(self) -> None:
        if self.printed != self.done:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self.last, self.printed = now, self.done
        rate = self.new / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = f", about {left / 60:.0f} min left" if left == left and left > 0 else ""
        print(f"{self.name}: {self.done}/{self.total} runs done ({self.failed} failed), "
              f"{(now - self.start) / 60:.1f} min{eta}", file=sys.stderr, flush=True)  # fmt: skip


def _progress_bar(name: str, total: int, initial: int, on: bool):
    if on and not sys.stderr.isatty():
        return _LogProgress(name, total, initial)
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=f"{name}",
        unit="run",
        disable=not on,
        dynamic_ncols=True,
    )
