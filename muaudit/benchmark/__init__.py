"""The Deep Unlearn study as a library: spec -> references -> Optuna search -> final runs -> table.

See docs/benchmark.md. Entry point: :func:`muaudit.jobs.benchmark.run_benchmark`.
"""

from muaudit.benchmark.spec import BenchmarkSpec, ForgetSetting, MethodPlan, load_benchmark_spec, spec_from_dict

__all__ = ["BenchmarkSpec", "ForgetSetting", "MethodPlan", "load_benchmark_spec", "spec_from_dict"]
