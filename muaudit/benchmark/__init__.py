"""The Deep Unlearn study as a library: spec -> references -> Optuna search -> final runs -> table.

See docs/benchmark.md. Entry point: :func:`muaudit.jobs.benchmark.run_benchmark`.
"""

from muaudit.benchmark.executor import Executor, LocalExecutor, get_executor
from muaudit.benchmark.spec import BenchmarkSpec, ForgetSetting, MethodPlan, load_benchmark_spec, spec_from_dict

__all__ = ["BenchmarkSpec", "Executor", "ForgetSetting", "LocalExecutor", "MethodPlan", "get_executor",
           "load_benchmark_spec", "spec_from_dict"]
