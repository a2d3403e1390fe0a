"""``trainer.profile`` (``debug=profile``): a run under ``torch.profiler``."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from runner.platform.console import console

TOP_OPERATORS = 15


@contextmanager
def profiled(enabled: bool, directory: Path) -> Iterator[None]:
    """Profile the block when ``enabled``: write ``trace.json`` (chrome://tracing or Perfetto)
    and ``operators.txt`` (the operators that took the most time, also printed) to
    ``directory``."""
    if not enabled:
        yield
        return
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        yield
    directory.mkdir(parents=True, exist_ok=True)
    profiler.export_chrome_trace(str(directory / "trace.json"))
    sort_by = "self_cuda_time_total" if len(activities) > 1 else "self_cpu_time_total"
    table = profiler.key_averages().table(sort_by=sort_by, row_limit=TOP_OPERATORS)
    (directory / "operators.txt").write_text(table + "\n", encoding="utf-8")
    console.print(f"[bold]top operators[/bold] (trace: {directory / 'trace.json'})")
    console.print(table, markup=False, highlight=False)
