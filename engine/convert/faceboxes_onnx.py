"""Build the FaceBoxes face detector as an ONNX graph (any input size).

The graph takes the raw BGR frame and subtracts the per-channel mean itself, so
the runtime only transposes to NCHW. Batch norm is folded into the convs.
CReLU (``relu(concat(y, -y))`` on the batch-normed conv output ``y``) is built
as one convolution whose second half has negated weights and bias, followed by
ReLU: exactly the same numbers (negation is exact), one node instead of four.
The heads are emitted in upstream order: per source, permute to NHWC and
flatten, then concatenate the three sources, so anchor ``i`` of the output is
the ``i``-th prior of the upstream PriorBox layout.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.convert.onnx_layers import (
    BatchNorm,
    GraphBuilder,
    check_and_save,
    float_input,
    fold_batch_norm,
    max_abs_diff,
    parameter_count,
    require,
    run_onnxruntime_and_reference,
)

# Model facts (DATA.md, upstream FaceBoxes/models/faceboxes.py).
PIXEL_MEAN_BGR = (104.0, 117.0, 123.0)
INPUT_CHANNELS = 3
# CReLU stem: (checkpoint name, conv output channels before doubling, kernel, stride, pad).
CRELU_LAYERS = (("conv1", 24, 7, 4, 3), ("conv2", 64, 5, 2, 2))
STEM_POOL = (3, 2, 1)  # max-pool kernel, stride, pad after each CReLU layer
INCEPTIONS = ("inception1", "inception2", "inception3")
INCEPTION_CHANNELS = 128
INCEPTION_BRANCH_POOL = (3, 1, 1)  # avg-pool kernel, stride, pad in front of branch1x1_2
BRANCH_CHANNELS = 32
REDUCE_CHANNELS = 24
# After inception3: (name, output channels, kernel, stride, pad); a source is taken after each *_2.
EXTRA_LAYERS = (
    ("conv3_1", 128, 1, 1, 0), ("conv3_2", 256, 3, 2, 1),
    ("conv4_1", 128, 1, 1, 0), ("conv4_2", 256, 3, 2, 1),
)
SOURCE_CHANNELS = (128, 256, 256)
SOURCE_STRIDES = (32, 64, 128)
ANCHORS_PER_CELL = (21, 1, 1)
NUM_CLASSES = 2
FACE_CLASS = 1
BOX_COORDS = 4
HEAD_KERNEL, HEAD_PAD = 3, 1

INPUT_NAME = "input"
LOC_NAME = "loc"
SCORES_NAME = "scores"
HEIGHT_DIM, WIDTH_DIM, ANCHOR_DIM = "height", "width", "anchors"


def build_faceboxes_onnx(state_dict: dict[str, np.ndarray], out_path: Path) -> list[str]:
    """Write the detector graph to ``out_path``; return short report lines.

    Input ``input`` (1, 3, H, W) float32 raw BGR 0..255; outputs ``loc`` (1, A, 4)
    raw SSD box deltas and ``scores`` (1, A) face probabilities, A = sum over the
    three sources of ceil(H/s) * ceil(W/s) * anchors per cell.
    """
    g = GraphBuilder("faceboxes")
    x = g.sub(INPUT_NAME, np.array(PIXEL_MEAN_BGR, np.float32).reshape(1, 3, 1, 1), "mean_sub")
    channels = INPUT_CHANNELS
    for name, out_channels, kernel, stride, pad in CRELU_LAYERS:
        x = _crelu(g, state_dict, x, name, channels, out_channels, kernel, stride, pad)
        x = g.max_pool(x, f"{name}.pool", *STEM_POOL)
        channels = 2 * out_channels
    for name in INCEPTIONS:
        x = _inception(g, state_dict, x, name)
    sources = [x]
    for name, out_channels, kernel, stride, pad in EXTRA_LAYERS:
        x = _basic_conv(g, state_dict, x, name, channels, out_channels, kernel, stride, pad)
        channels = out_channels
        if name.endswith("_2"):
            sources.append(x)
    _heads(g, state_dict, sources)

    model = g.make_model(
        [float_input(INPUT_NAME, [1, INPUT_CHANNELS, HEIGHT_DIM, WIDTH_DIM])],
        [float_input(LOC_NAME, [1, ANCHOR_DIM, BOX_COORDS]), float_input(SCORES_NAME, [1, ANCHOR_DIM])],
        doc="FaceBoxes face detector: raw BGR image -> SSD box deltas and face scores per prior",
    )
    check_and_save(model, out_path)
    rng = np.random.default_rng(0)
    height, width = 97, 131  # odd sizes exercise the ceil() in every strided layer
    image = rng.uniform(0, 255, (1, INPUT_CHANNELS, height, width)).astype(np.float32)
    got, want = run_onnxruntime_and_reference(out_path, {INPUT_NAME: image})
    loc_diff, score_diff = (max_abs_diff(a, b) for a, b in zip(got, want))
    if got[0].shape != (1, anchor_count(height, width), BOX_COORDS):
        raise ValueError(f"detector graph gives {got[0].shape[1]} priors, expected {anchor_count(height, width)}")
    return [
        f"{len(model.graph.node)} nodes, {parameter_count(model):,} parameters (BN folded, CReLU as one conv)",
        f"input '{INPUT_NAME}' (1, 3, H, W) raw BGR; outputs '{LOC_NAME}' (1, A, 4), '{SCORES_NAME}' (1, A)",
        f"onnxruntime vs onnx reference evaluator, random {height}x{width} image: max |diff| loc {loc_diff:.2e}, "
        f"scores {score_diff:.2e}",
    ]


def anchor_count(height: int, width: int) -> int:
    """Number of priors (rows of ``loc``/``scores``) for an input of this size."""
    return sum(-(-height // s) * -(-width // s) * a for s, a in zip(SOURCE_STRIDES, ANCHORS_PER_CELL))


def _conv_weight(sd: dict[str, np.ndarray], name: str, in_ch: int, out_ch: int, kernel: int) -> np.ndarray:
    return require(sd, f"{name}.conv.weight", (out_ch, in_ch, kernel, kernel))


def _crelu(g: GraphBuilder, sd: dict[str, np.ndarray], x: str, name: str, in_ch: int, out_ch: int,
           kernel: int, stride: int, pad: int) -> str:
    """conv + BN, then concat(y, -y) and ReLU, as one doubled conv + ReLU."""
    bn = BatchNorm.from_state_dict(sd, f"{name}.bn")
    w, b = fold_batch_norm(_conv_weight(sd, name, in_ch, out_ch, kernel), None, bn)
    x = g.conv(x, np.concatenate([w, -w]), np.concatenate([b, -b]), f"{name}.conv", stride=stride, pad=pad)
    return g.relu(x, f"{name}.crelu")


def _basic_conv(g: GraphBuilder, sd: dict[str, np.ndarray], x: str, name: str, in_ch: int, out_ch: int,
                kernel: int, stride: int = 1, pad: int = 0) -> str:
    """conv (no bias) + BN + ReLU."""
    weight = _conv_weight(sd, name, in_ch, out_ch, kernel)
    x = g.conv_bn(x, weight, BatchNorm.from_state_dict(sd, f"{name}.bn"), f"{name}.conv", stride=stride, pad=pad)
    return g.relu(x, f"{name}.relu")


def _inception(g: GraphBuilder, sd: dict[str, np.ndarray], x: str, name: str) -> str:
    """Four branches concatenated: 1x1; avg-pool + 1x1; 1x1 + 3x3; 1x1 + 3x3 + 3x3."""
    c_in, c_b, c_r = INCEPTION_CHANNELS, BRANCH_CHANNELS, REDUCE_CHANNELS
    b1 = _basic_conv(g, sd, x, f"{name}.branch1x1", c_in, c_b, 1)
    pooled = g.avg_pool(x, f"{name}.pool", *INCEPTION_BRANCH_POOL)
    b2 = _basic_conv(g, sd, pooled, f"{name}.branch1x1_2", c_in, c_b, 1)
    r3 = _basic_conv(g, sd, x, f"{name}.branch3x3_reduce", c_in, c_r, 1)
    b3 = _basic_conv(g, sd, r3, f"{name}.branch3x3", c_r, c_b, 3, pad=1)
    r4 = _basic_conv(g, sd, x, f"{name}.branch3x3_reduce_2", c_in, c_r, 1)
    b4 = _basic_conv(g, sd, r4, f"{name}.branch3x3_2", c_r, c_b, 3, pad=1)
    b4 = _basic_conv(g, sd, b4, f"{name}.branch3x3_3", c_b, c_b, 3, pad=1)
    return g.concat([b1, b2, b3, b4], f"{name}.concat", axis=1)


def _heads(g: GraphBuilder, sd: dict[str, np.ndarray], sources: list[str]) -> None:
    """loc/conf 3x3 convs per source -> NHWC -> (1, cells*anchors, k), concatenated in source order."""
    locs: list[str] = []
    confs: list[str] = []
    for i, (x, channels, anchors) in enumerate(zip(sources, SOURCE_CHANNELS, ANCHORS_PER_CELL)):
        for prefix, per_anchor, into in (("loc", BOX_COORDS, locs), ("conf", NUM_CLASSES, confs)):
            shape = (anchors * per_anchor, channels, HEAD_KERNEL, HEAD_KERNEL)
            weight = require(sd, f"{prefix}.{i}.weight", shape)
            bias = require(sd, f"{prefix}.{i}.bias", shape[:1])
            y = g.conv(x, weight, bias, f"{prefix}.{i}", pad=HEAD_PAD)
            y = g.transpose(y, (0, 2, 3, 1), f"{prefix}.{i}.nhwc")
            into.append(g.reshape(y, (0, -1, per_anchor), f"{prefix}.{i}.flatten"))
    g.concat(locs, "loc.concat", axis=1, output=LOC_NAME)
    probs = g.softmax(g.concat(confs, "conf.concat", axis=1), "conf.softmax", axis=-1)
    g.take(probs, FACE_CLASS, axis=2, hint="face_score", output=SCORES_NAME)
