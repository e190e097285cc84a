"""One place that creates onnxruntime sessions, so every model gets the same threading."""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

from engine.errors import TrackerError

# glibc gives the top of the heap back to the OS once more than M_TRIM_THRESHOLD is
# free there, and after a large block (a detector run) raises that threshold only
# to the size of the block. A regression frees and re-allocates a working buffer
# of a few MB, so glibc kept unmapping it and the next run page-faulted it back:
# 0.93 instead of 0.54 ms per face here. Keeping up to this much free heap mapped
# costs no memory that the process did not already use at its peak.
HEAP_TRIM_THRESHOLD = 256 << 20
M_TRIM_THRESHOLD = -1  # mallopt parameter number in glibc's malloc.h
ORT_CACHE_DIR = "ort_cache"  # next to the models: onnxruntime's optimised graphs


class ModelFileError(TrackerError, FileNotFoundError):
    """A model file written by `tracker-app setup` is missing or unreadable."""


@cache
def keep_freed_heap_mapped() -> bool:
    """Raise glibc's heap trim threshold once per process (no-op elsewhere); True when set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) == 1)
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to tune
        return False


def create_session(model_path: Path, threads: int, allow_spinning: bool = False,
                   memory_arena: bool = True) -> ort.InferenceSession:
    """CPU inference session with ``threads`` intra-op threads and no inter-op pool.

    ``memory_arena=False`` gives the activations back after each run instead of keeping
    onnxruntime's arena, which grows in powers of two (for a model run rarely on large
    inputs, the arena is peak memory spent for nothing).

    The graph onnxruntime optimises (fusions, layouts) is kept in ``ort_cache/`` next to
    the model, keyed by the model file, the onnxruntime version and this CPU, so later
    starts load it as it is instead of optimising again.
    """

    keep_freed_heap_mapped()

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"{model_path} not found: run `tracker-app setup --data DIR`")
    cached = optimised_graph_path(model_path)
    if cached.is_file():
        try:
            return _session(cached, _options(threads, allow_spinning, memory_arena, optimise=False))
        except ModelFileError:  # a damaged or foreign cache entry: optimise again below
            cached.unlink(missing_ok=True)
    options = _options(threads, allow_spinning, memory_arena, optimise=True)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    try:
        cached.parent.mkdir(exist_ok=True)
        options.optimized_model_filepath = str(partial)
    except OSError:  # a read-only weights folder: no cache, the session is the same
        pass
    session = _session(model_path, options)
    try:
        os.replace(partial, cached)
    except OSError:
        pass
    return session


def optimised_graph_path(model_path: Path) -> Path:
    """Where the optimised graph of ``model_path`` is cached."""
    import onnxruntime as ort

    stat = model_path.stat()
    identity = "|".join([ort.__version__, str(stat.st_size), str(stat.st_mtime_ns), platform.machine(),
                         _cpu_flags()])
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return model_path.parent / ORT_CACHE_DIR / f"{model_path.stem}.{key}.onnx"


def _cpu_flags() -> str:
    """The CPU's feature flags (the optimised graph may use layouts chosen for them)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _options(threads: int, allow_spinning: bool, memory_arena: bool, optimise: bool) -> ort.SessionOptions:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = memory_arena
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    options.log_severity_level = 3  # warnings about unused initialisers are noise to users
    return options


def _session(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"{path} cannot be loaded ({e}); re-run `tracker-app setup --force --data DIR`") from None
