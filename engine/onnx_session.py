"""One place that creates onnxruntime sessions, so every model gets the same threading."""
from __future__ import annotations

import ctypes
import sys
from functools import cache
from typing import Any
from pathlib import Path

from engine.errors import TrackerError

# glibc gives the top of the heap back to the OS once more than M_TRIM_THRESHOLD is
# free there, and after a large block (a detector run) raises that threshold only
# to the size of the block. A regression frees and re-allocates a working buffer
# of a few MB, so glibc kept unmapping it and the next run page-faulted it back:
# 0.93 instead of 0.54 ms per face here. Keeping up to this much free heap mapped
# costs no memory that the process did not already use at its peak.
HEAP_TRIM_THRESHOLD = 256 << 20
M_TRIM_THRESHOLD = -1  # mallopt parameter number in glibc's malloc.h


class ModelFileError(TrackerError, FileNotFoundError):
    """A model file written by `tracker-app setup` is missing or unreadable."""


@cache
def keep_freed_heap_mapped() -> bool:
    """Raise glibc's heap trim threshold once per process (no-op elsewhere); True when set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc.mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):  # musl and others have no mallopt: nothing to tune
        return False


def create_session(model_path: Path, threads: int, allow_spinning: bool = True) -> Any:
    """CPU inference session with ``threads`` intra-op threads and no inter-op pool."""
    import onnxruntime as ort

    keep_freed_heap_mapped()

    if not Path(model_path).is_file():
        raise ModelFileError(f"{model_path} not found: run `tracker-app setup --data DIR`")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise to users
    try:
        return ort.InferenceSession(str(model_path), sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelFileError(f"{model_path} cannot be loaded ({e}); "
                             "re-run `tracker-app setup --force --data DIR`") from None
