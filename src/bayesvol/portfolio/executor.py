"""Run independent backtest tasks in this process or on a Dask cluster.

A task is a plain dict (the returns, the windows and the settings) and a function that writes
its own result files and returns a list of small status dicts; the parent only collects the
statuses and merges the files afterwards, so a lost worker costs its task only (Dask runs it
again elsewhere) and a task that raises is reported while the others go on.

In-process (the default) runs the tasks one after another. ``scheduler="ADDRESS"`` connects
a ``dask.distributed.Client`` to a running scheduler; ``workers=N`` starts a ``LocalCluster``
with N single-threaded worker processes (``processes=False``: threads in this process, for
tests). Futures are collected with ``dask.distributed.as_completed``. Dask is an optional
dependency (``pip install 'bayesvol[backtest]'``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable

from ..errors import InputError

Status = dict


def _failed(task: dict, exc: BaseException) -> list[Status]:
    """One 'failed' status per window of the task."""
    message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return [{"model": task["model"], "window": w["index"], "status": "failed",
             "error": message} for w in task["windows"]]


def _dask():
    try:
        from dask import distributed
    except ImportError:
        raise InputError("--scheduler and --workers need Dask: pip install "
                         "'bayesvol[backtest]' (dask[distributed])") from None
    return distributed


def run_tasks(fn: Callable[..., list[Status]], tasks: Iterable[dict],
              on_status: Callable[[Status], None] | None = None,
              scheduler: str | None = None, workers: int | None = None,
              processes: bool = True) -> list[Status]:
    """Run ``fn(task)`` for every task; statuses in completion order.

    In-process, ``fn`` also gets ``on_status`` (called after each window); on Dask
    ``on_status`` is called for each status when its task completes.
    """
    tasks = list(tasks)
    report = on_status or (lambda s: None)
    statuses: list[Status] = []
    if scheduler is None and workers is None:
        for task in tasks:
            try:
                out = fn(task, on_status=report)
            except Exception as exc:  # a failed task is reported; the rest go on
                out = _failed(task, exc)
                out[0]["traceback"] = traceback.format_exc(limit=5)
                for s in out:
                    report(s)
            statuses.extend(out)
        return statuses
    distributed = _dask()
    cluster = None
    if scheduler is not None:
        client = distributed.Client(scheduler)
    else:
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=processes, dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        futures = {client.submit(fn, task, pure=False,
                                 key=f"bayesvol-backtest-{task['model']}-"
                                     f"{task['windows'][0]['index']}-{task['key']}"): task
                   for task in tasks}
        for future in distributed.as_completed(futures):
            task = futures[future]
            try:
                out = future.result()
            except Exception as exc:  # a task that raised (or lost its workers too often)
                out = _failed(task, exc)
            for s in out:
                report(s)
            statuses.extend(out)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return statuses
