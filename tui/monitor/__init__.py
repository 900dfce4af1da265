"""Host, GPU and backend-process sampling into ring buffers; no Textual.

Importing this package loads neither psutil nor NVML: psutil comes with the first live
:class:`Monitor`, and ``pynvml`` with the first GPU read.
"""

from tui.monitor.monitor import Monitor, Source
from tui.monitor.recorded import RecordedSource, dump_samples, load_samples
from tui.monitor.sample import DiskSample, GpuSample, ProcessSample, Sample

__all__ = [
    "DiskSample",
    "GpuSample",
    "Monitor",
    "ProcessSample",
    "RecordedSource",
    "Sample",
    "Source",
    "dump_samples",
    "load_samples",
]
