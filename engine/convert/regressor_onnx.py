"""Build the 3DMM parameter regressor (MobileNet-V1, widen 0.5) as an ONNX graph.

The graph takes raw BGR crops so the runtime does no per-pixel work in Python:
normalisation ``(x - 127.5) / 128`` happens inside it, before the first conv,
because that conv zero-pads the *normalised* image (folding the normalisation
into the conv weights would be wrong at the borders). Batch norm is folded into
the convs, and the output de-whitening ``param = out * std + mean`` is folded
into the final fully connected layer, so the output is directly the 62 params.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.convert.onnx_layers import (
    BatchNorm,
    GraphBuilder,
    check_and_save,
    float_input,
    max_abs_diff,
    parameter_count,
    require,
    run_onnxruntime_and_reference,
)
from engine.safe_pickle import load_pickle_file

# Model facts (DATA.md, upstream mobilenet_v1.py).
WIDEN_FACTOR = 0.5
INPUT_SIZE = 120
INPUT_CHANNELS = 3
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1.0 / 128.0
STEM_CHANNELS = 32  # before widening
STEM_STRIDE = 2
# The 13 depthwise-separable blocks: checkpoint name, output channels (before widening), stride.
BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("dw2_1", 64, 1), ("dw2_2", 128, 2),
    ("dw3_1", 128, 1), ("dw3_2", 256, 2),
    ("dw4_1", 256, 1), ("dw4_2", 512, 2),
    ("dw5_1", 512, 1), ("dw5_2", 512, 1), ("dw5_3", 512, 1), ("dw5_4", 512, 1), ("dw5_5", 512, 1),
    ("dw5_6", 1024, 2),
    ("dw6", 1024, 1),
)
NUM_PARAMS = 62
HEAD = "fc_param"  # fc_lm.* is a training-only landmark head

INPUT_NAME = "input"
OUTPUT_NAME = "param"
BATCH_DIM = "batch"


def build_regressor_onnx(state_dict: dict[str, np.ndarray], mean_std_pkl: Path, out_path: Path) -> list[str]:
    """Write the regressor graph to ``out_path``; return short report lines.

    Input ``input`` (N, 3, 120, 120) float32 raw BGR 0..255, output ``param``
    (N, 62) float32 de-whitened 3DMM parameters.
    """
    mean, std = load_param_mean_std(mean_std_pkl)
    g = GraphBuilder("mobilenet_v1_w05_3dmm")
    x = g.sub(INPUT_NAME, np.float32(PIXEL_MEAN), "normalise.sub")
    x = g.mul(x, np.float32(PIXEL_SCALE), "normalise.scale")
    x, channels = _stem(g, state_dict, x)
    for name, out_channels, stride in BLOCKS:
        x, channels = _depthwise_block(g, state_dict, x, name, channels, _widen(out_channels), stride)
    x = g.flatten(g.global_avg_pool(x, "avgpool"), "flatten")
    weight, bias = dewhitened_head(state_dict, channels, mean, std)
    g.gemm(x, weight, bias, HEAD, output=OUTPUT_NAME)

    model = g.make_model(
        [float_input(INPUT_NAME, [BATCH_DIM, INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE])],
        [float_input(OUTPUT_NAME, [BATCH_DIM, NUM_PARAMS])],
        doc="3DDFA_V2 MobileNet-V1 (w=0.5) regressor: raw BGR 120x120 crops -> 62 3DMM parameters",
    )
    check_and_save(model, out_path)
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, (2, INPUT_CHANNELS, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    (got,), (want,) = run_onnxruntime_and_reference(out_path, {INPUT_NAME: batch})
    diff = max_abs_diff(got / std, want / std)  # in whitened units: params span 1e-4 .. 1e5
    return [
        f"{len(model.graph.node)} nodes, {parameter_count(model):,} parameters (BN and de-whitening folded)",
        f"input '{INPUT_NAME}' (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) raw BGR; output '{OUTPUT_NAME}' (N, {NUM_PARAMS})",
        f"onnxruntime vs onnx reference evaluator, random batch: max |diff| {diff:.2e} (x std)",
    ]


def load_param_mean_std(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (62,) whitening statistics of the network output."""
    stats = load_pickle_file(path)  # data only: the restricted unpickler runs no code
    try:
        mean = np.asarray(stats["mean"], np.float32).reshape(-1)
        std = np.asarray(stats["std"], np.float32).reshape(-1)
    except (TypeError, KeyError):
        raise ValueError(f"{path} is not a dict with 'mean' and 'std'") from None
    if mean.shape != (NUM_PARAMS,) or std.shape != (NUM_PARAMS,):
        raise ValueError(f"{path}: mean/std must have {NUM_PARAMS} entries, got {mean.shape} and {std.shape}")
    return mean, std


def dewhitened_head(state_dict: dict[str, np.ndarray], in_features: int, mean: np.ndarray,
                    std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fc_param weight/bias with ``out * std + mean`` folded in (computed in float64)."""
    weight = require(state_dict, f"{HEAD}.weight", (NUM_PARAMS, in_features)).astype(np.float64)
    bias = require(state_dict, f"{HEAD}.bias", (NUM_PARAMS,)).astype(np.float64)
    std64 = std.astype(np.float64)
    return (weight * std64[:, None]).astype(np.float32), (bias * std64 + mean).astype(np.float32)


def _widen(channels: int) -> int:
    return int(channels * WIDEN_FACTOR)


def _stem(g: GraphBuilder, sd: dict[str, np.ndarray], x: str) -> tuple[str, int]:
    channels = _widen(STEM_CHANNELS)
    weight = require(sd, "conv1.weight", (channels, INPUT_CHANNELS, 3, 3))
    x = g.conv_bn(x, weight, BatchNorm.from_state_dict(sd, "bn1"), "conv1", stride=STEM_STRIDE, pad=1)
    return g.relu(x, "conv1.relu"), channels


def _depthwise_block(g: GraphBuilder, sd: dict[str, np.ndarray], x: str, name: str, in_channels: int,
                     out_channels: int, stride: int) -> tuple[str, int]:
    """3x3 depthwise conv + BN + ReLU, then 1x1 pointwise conv + BN + ReLU."""
    dw = require(sd, f"{name}.conv_dw.weight", (in_channels, 1, 3, 3))
    x = g.conv_bn(x, dw, BatchNorm.from_state_dict(sd, f"{name}.bn_dw"), f"{name}.conv_dw",
                  stride=stride, pad=1, group=in_channels)
    x = g.relu(x, f"{name}.relu_dw")
    pw = require(sd, f"{name}.conv_sep.weight", (out_channels, in_channels, 1, 1))
    x = g.conv_bn(x, pw, BatchNorm.from_state_dict(sd, f"{name}.bn_sep"), f"{name}.conv_sep")
    return g.relu(x, f"{name}.relu_sep"), out_channels
