"""The local executor holds a bounded window of tasks: results wait for the driver in memory that
does not grow with the number of tasks (a pool build's rows, docs/benchmarks.md)."""

from muaudit.execution.processes import ProcessExecutor


def test_local_executor_keeps_at_most_two_tasks_per_worker():
    seen, outstanding = [], []
    with ProcessExecutor(1, threads=1) as ex:
        for i, r in ex.map(pow, list(range(12)), shared=2):  # pow(shared, task)
            outstanding.append(len(ex._futures))
            seen.append((i, r))
    assert sorted(seen) == [(i, 2 ** i) for i in range(12)]
    assert max(outstanding) <= 2
