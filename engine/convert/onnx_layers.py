"""Small ONNX graph-building helpers shared by the regressor and detector builders.

Both upstream networks are plain conv + batch-norm stacks. At inference time
batch norm is an affine map per channel, so it is folded into the preceding
convolution's weight and bias here (in float64, then rounded once to float32);
the exported graphs therefore contain no BatchNormalization nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# Oldest IR version that carries opset 17: keeps the files loadable by older onnxruntime.
IR_VERSION = 8
BN_EPS = 1e-5  # PyTorch BatchNorm2d default, used by both upstream networks


@dataclass(frozen=True)
class BatchNorm:
    """Inference-time batch-norm statistics of one layer."""

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = BN_EPS

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, np.ndarray], prefix: str, eps: float = BN_EPS) -> "BatchNorm":
        """Read ``prefix.{weight,bias,running_mean,running_var}``."""
        keys = ("weight", "bias", "running_mean", "running_var")
        weight, bias, mean, var = (require(state_dict, f"{prefix}.{k}") for k in keys)
        return cls(weight, bias, mean, var, eps=eps)


def require(state_dict: dict[str, np.ndarray], key: str, shape: Sequence[int] | None = None) -> np.ndarray:
    """``state_dict[key]``, with a clear error when it is missing or has the wrong shape."""
    if key not in state_dict:
        raise ValueError(f"checkpoint has no tensor '{key}'")
    value = state_dict[key]
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(f"checkpoint tensor '{key}' has shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, bn: BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of ``bn(conv(x))`` as a single convolution (float32)."""
    scale = bn.gamma.astype(np.float64) / np.sqrt(bn.var.astype(np.float64) + bn.eps)
    b = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
    w = weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    b = (b - bn.mean.astype(np.float64)) * scale + bn.beta.astype(np.float64)
    return w.astype(np.float32), b.astype(np.float32)


class GraphBuilder:
    """Accumulates nodes and initialisers; each helper returns its output tensor name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._used_names: set[str] = set()

    # -- plumbing ---------------------------------------------------------
    def _unique(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._used_names:
            i += 1
            name = f"{hint}_{i}"
        self._used_names.add(name)
        return name

    def constant(self, hint: str, value: np.ndarray) -> str:
        """Add an initialiser and return its name."""
        name = self._unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, output: str | None = None, **attrs: Any) -> str:
        """Append one node; ``output`` forces the output name (graph outputs)."""
        name = self._unique(hint)
        out = output if output is not None else name
        if output is not None:
            self._used_names.add(output)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=name, **attrs))
        return out

    # -- layers -----------------------------------------------------------
    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray | None, hint: str, stride: int = 1,
             pad: int = 0, group: int = 1, output: str | None = None) -> str:
        """2-D convolution with square kernel, symmetric zero padding."""
        inputs = [x, self.constant(f"{hint}.weight", weight.astype(np.float32))]
        if bias is not None:
            inputs.append(self.constant(f"{hint}.bias", bias.astype(np.float32)))
        kh, kw = weight.shape[2:]
        return self.op("Conv", inputs, hint, output=output, kernel_shape=[kh, kw], strides=[stride, stride],
                       pads=[pad, pad, pad, pad], group=group)

    def conv_bn(self, x: str, weight: np.ndarray, bn: BatchNorm, hint: str, stride: int = 1, pad: int = 0,
                group: int = 1) -> str:
        """Bias-free convolution followed by batch norm, folded into one Conv."""
        w, b = fold_batch_norm(weight, None, bn)
        return self.conv(x, w, b, hint, stride=stride, pad=pad, group=group)

    def relu(self, x: str, hint: str) -> str:
        return self.op("Relu", [x], hint)

    def max_pool(self, x: str, hint: str, kernel: int, stride: int, pad: int) -> str:
        """Max pooling; padded cells never win (same as PyTorch's -inf padding)."""
        return self.op("MaxPool", [x], hint, kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad, pad, pad, pad])

    def avg_pool(self, x: str, hint: str, kernel: int, stride: int, pad: int) -> str:
        """Average pooling counting padded zeros (PyTorch's default count_include_pad=True)."""
        return self.op("AveragePool", [x], hint, kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad, pad, pad, pad], count_include_pad=1)

    def global_avg_pool(self, x: str, hint: str) -> str:
        return self.op("GlobalAveragePool", [x], hint)

    def concat(self, xs: Sequence[str], hint: str, axis: int, output: str | None = None) -> str:
        return self.op("Concat", xs, hint, output=output, axis=axis)

    def sub(self, x: str, value: np.ndarray, hint: str) -> str:
        return self.op("Sub", [x, self.constant(f"{hint}.value", value.astype(np.float32))], hint)

    def mul(self, x: str, value: np.ndarray, hint: str) -> str:
        return self.op("Mul", [x, self.constant(f"{hint}.value", value.astype(np.float32))], hint)

    def transpose(self, x: str, perm: Sequence[int], hint: str) -> str:
        return self.op("Transpose", [x], hint, perm=list(perm))

    def reshape(self, x: str, shape: Sequence[int], hint: str) -> str:
        """Reshape; 0 keeps that input dimension, -1 is inferred."""
        return self.op("Reshape", [x, self.constant(f"{hint}.shape", np.array(shape, np.int64))], hint)

    def flatten(self, x: str, hint: str) -> str:
        return self.op("Flatten", [x], hint, axis=1)

    def gemm(self, x: str, weight: np.ndarray, bias: np.ndarray, hint: str, output: str | None = None) -> str:
        """``x @ weight.T + bias`` with a PyTorch-layout (out, in) weight."""
        w = self.constant(f"{hint}.weight", weight.astype(np.float32))
        b = self.constant(f"{hint}.bias", bias.astype(np.float32))
        return self.op("Gemm", [x, w, b], hint, output=output, transB=1)

    def softmax(self, x: str, hint: str, axis: int = -1) -> str:
        return self.op("Softmax", [x], hint, axis=axis)

    def take(self, x: str, index: int, axis: int, hint: str, output: str | None = None) -> str:
        """Select one index along ``axis``, dropping that axis."""
        idx = self.constant(f"{hint}.index", np.array(index, np.int64))
        return self.op("Gather", [x, idx], hint, output=output, axis=axis)

    # -- model ------------------------------------------------------------
    def make_model(self, inputs: Sequence[onnx.ValueInfoProto], outputs: Sequence[onnx.ValueInfoProto],
                   doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, list(inputs), list(outputs), self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="tracker-app build_ext.py", doc_string=doc)
        model.ir_version = IR_VERSION
        return model


def float_input(name: str, shape: Sequence[int | str]) -> onnx.ValueInfoProto:
    """A float32 graph input/output; string dimensions are dynamic (named)."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def check_and_save(model: onnx.ModelProto, out_path: Path) -> None:
    """Validate with the ONNX checker (full shape inference) and write the file."""
    onnx.checker.check_model(model, full_check=True)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))


def parameter_count(model: onnx.ModelProto) -> int:
    """Number of float weights stored in the graph (shape constants excluded)."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT)


def run_onnxruntime_and_reference(model_path: Path, feeds: dict[str, np.ndarray]
                                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outputs of onnxruntime and of onnx's own NumPy ReferenceEvaluator on ``feeds``.

    A build-time smoke test that onnxruntime loads the file and computes what
    the ONNX specification says; agreement with the upstream PyTorch model is
    checked by the test suite against an independent NumPy implementation.
    """
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds), ReferenceEvaluator(str(model_path)).run(None, feeds)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b))) if np.size(a) else 0.0
