"""One place that creates onnxruntime sessions, so every model gets the same threading."""
from __future__ import annotations

from pathlib import Path


class ModelFileError(FileNotFoundError):
    """A model file written by build_ext.py is missing or unreadable."""


def create_session(model_path: Path, threads: int, allow_spinning: bool = True):
    """CPU inference session with ``threads`` intra-op threads and no inter-op pool."""
    import onnxruntime as ort

    if not Path(model_path).is_file():
        raise ModelFileError(f"{model_path} not found: run `python build_ext.py` first")
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
        raise ModelFileError(f"{model_path} cannot be loaded ({e}); re-run `python build_ext.py --force`") from None
