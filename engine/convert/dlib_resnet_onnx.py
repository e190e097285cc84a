"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``) as ONNX.

The weights (public domain, CC0) ship in PyPI's ``face_recognition_models``. The
network is dlib's ``anet_type`` of examples/dnn_face_recognition_ex.cpp, a 29-layer
ResNet on 150x150 RGB chips::

    input_rgb_image_sized<150>            (pixel - mean_rgb) / 256
    con<32,7,7,2,2> affine relu max_pool<3,3,2,2>
    alevel4: 3 x ares<32>     alevel3: ares_down<64>,  3 x ares<64>
    alevel2: ares_down<128>, 2 x ares<128>
    alevel1: ares_down<256>, 2 x ares<256>   alevel0: ares_down<256>
    avg_pool_everything, fc_no_bias<128>

    ares<N>      = relu(x + affine(con3x3(relu(affine(con3x3(x))))))
    ares_down<N> = relu(avg_pool<2,2,2,2>(x) + block with a stride-2 first conv)

dlib facts the graph reproduces: a conv's padding is 0 when its stride is not 1,
else k/2 (read from the file, not assumed); pools pad 0; ``add_prev`` of tensors of
different shapes gives the larger shape in every dimension, with the missing parts
of the smaller input taken as zero (the down blocks add a pooled input with fewer
channels, and at 8x8 -> 4x4 a 3x3 conv output to a 4x4 pool output); the output
is the fc layer's 128 values as they are, not normalised (dlib compares them with
Euclidean distance; same person below about 0.6).

The graph takes raw RGB chips (N, 3, 150, 150), 0..255, and normalises them itself,
like the regressor graph: ``(x - mean_rgb) / 256`` with the means stored in the file.
Each ``affine`` (batch norm frozen by dlib) is folded into the conv before it, in
float64, rounded once to float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.convert.dlib_serialize import (
    AddPrev,
    Affine,
    Conv,
    DlibReader,
    FcNoBias,
    InputRgb,
    Layer,
    Pool,
    Relu,
    read_input_rgb,
    read_layer,
)
from engine.convert.onnx_layers import (
    GraphBuilder,
    check_and_save,
    float_input,
    max_abs_diff,
    parameter_count,
)

INPUT_NAME = "chips"
OUTPUT_NAME = "embedding"
BATCH_DIM = "batch"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128
PIXEL_SCALE = 1.0 / 256.0  # dlib's input_rgb_image_sized divides by 256, not 255

# Version numbers dlib writes for each wrapper (dlib/dnn/core.h).
LOSS_VERSION = 1
ADD_LAYER_VERSION = 2
INPUT_ADD_LAYER_VERSION = 3  # the add_layer right on the input layer
TAG_VERSION = 1  # add_tag_layer and add_skip_layer
LOSS_TYPE = "loss_metric_2"


@dataclass(frozen=True)
class Op:
    """One step of the network in forward order (input to output)."""

    kind: str  # a dlib layer kind (see read_layer), or "tag" / "skip" (no details in the file)
    tag: int = 0  # tag id of tag/skip/add_prev


def anet_ops() -> list[Op]:
    """dlib's ``anet_type`` in forward order, tag and skip layers included."""
    ops = [Op("conv"), Op("affine"), Op("relu"), Op("max_pool")]

    def block() -> list[Op]:  # con, affine, relu, con, affine
        return [Op("conv"), Op("affine"), Op("relu"), Op("conv"), Op("affine")]

    def ares() -> list[Op]:  # relu<add_prev1<block<tag1<x>>>>
        return [Op("tag", 1), *block(), Op("add_prev", 1), Op("relu")]

    def ares_down() -> list[Op]:  # relu<add_prev2<avg_pool<skip1<tag2<block<tag1<x>>>>>>>
        return [Op("tag", 1), *block(), Op("tag", 2), Op("skip", 1), Op("avg_pool"), Op("add_prev", 2),
                Op("relu")]

    for downs, repeats in ((False, 3), (True, 3), (True, 2), (True, 2), (True, 0)):
        if downs:
            ops += ares_down()
        for _ in range(repeats):
            ops += ares()
    return ops + [Op("avg_pool"), Op("fc_no_bias")]


@dataclass(frozen=True)
class DlibResNet:
    """The parsed network: input normalisation and one entry per op of ``anet_ops()``."""

    input: InputRgb
    ops: list[Op]
    layers: list[Layer | None]  # None for tag/skip


def read_dlib_resnet(path: Path) -> DlibResNet:
    """Parse the .dat file, checking it is exactly ``anet_type`` (one-line ValueError if not)."""
    r = DlibReader.open(path)
    ops = anet_ops()
    r.version("loss layer", LOSS_VERSION)
    r.expect(LOSS_TYPE)
    r.real("loss margin")
    r.real("loss distance threshold")
    # the wrapper versions, outermost first: they say where the tag/skip layers are
    layer_ops = [op for op in ops if op.kind not in ("tag", "skip")]
    for i, op in enumerate(reversed(ops)):
        innermost = op is layer_ops[0]
        expected = TAG_VERSION if op.kind in ("tag", "skip") else (
            INPUT_ADD_LAYER_VERSION if innermost else ADD_LAYER_VERSION)
        r.version(f"wrapper {i} ({op.kind})", expected)
    net_input = read_input_rgb(r)
    if (net_input.rows, net_input.cols) != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"input is {net_input.rows}x{net_input.cols}, expected {CHIP_SIZE}x{CHIP_SIZE}")
    layers: list[Layer | None] = []
    for op in ops:
        if op.kind in ("tag", "skip"):
            layers.append(None)
            continue
        layers.append(read_layer(r, op.kind))
        _read_add_layer_state(r, innermost=op is layer_ops[0])
    if not r.at_end:
        raise r.fail("unexpected data after the network")
    return DlibResNet(net_input, ops, layers)


def _read_add_layer_state(r: DlibReader, innermost: bool) -> None:
    """What add_layer writes after its layer: three flags and empty scratch tensors."""
    for _ in range(3):
        r.boolean("layer flag")
    for name in ("x_grad", "cached_output", "grad_final" if innermost else "params_grad"):
        r.empty_tensor(name)
    if innermost:
        r.count("sample expansion factor", 1 << 16)


def build_face_embedding_onnx(dat_path: Path, out_path: Path) -> list[str]:
    """Write the embedding graph to ``out_path``; return short report lines."""
    net = read_dlib_resnet(dat_path)
    g = GraphBuilder("dlib_face_recognition_resnet_v1")
    mean = np.array(net.input.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.sub(INPUT_NAME, mean, "normalise.sub")
    x = g.mul(x, np.float32(PIXEL_SCALE), "normalise.scale")
    shape = (3, CHIP_SIZE, CHIP_SIZE)  # (C, H, W) of the current tensor: static, batch aside
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    pending: Conv | None = None  # a conv waits for the affine folded into it
    for i, (op, layer) in enumerate(zip(net.ops, net.layers)):
        hint = f"l{i}.{op.kind}"
        if pending is not None and not isinstance(layer, Affine):
            raise ValueError(f"{dat_path}: conv {i - 1} is not followed by an affine layer")
        if op.kind == "tag":
            tags[op.tag] = (x, shape)
        elif op.kind == "skip":
            x, shape = tags[op.tag]
        elif isinstance(layer, Conv):
            if layer.weight.shape[1] != shape[0]:
                raise ValueError(f"{dat_path}: conv {i} takes {layer.weight.shape[1]} channels, gets {shape[0]}")
            pending = layer
        elif isinstance(layer, Affine):
            if pending is None or layer.gamma.shape != (pending.weight.shape[0],):
                raise ValueError(f"{dat_path}: affine layer {i} does not follow a conv of its width")
            x, shape = _conv_affine(g, x, shape, pending, layer, hint)
            pending = None
        elif isinstance(layer, Relu):
            x = g.relu(x, hint)
        elif isinstance(layer, Pool):
            x, shape = _pool(g, x, shape, layer, hint)
        elif isinstance(layer, AddPrev):
            x, shape = _add_padded(g, (x, shape), tags[op.tag], hint)
        elif isinstance(layer, FcNoBias):
            x = g.flatten(x, "flatten")
            if layer.weight.shape != (shape[0] * shape[1] * shape[2], EMBEDDING_SIZE):
                raise ValueError(f"{dat_path}: fc layer is {layer.weight.shape}, input {shape}")
            w = g.constant("fc.weight", layer.weight.astype(np.float32))
            x = g.op("MatMul", [x, w], "fc", output=OUTPUT_NAME)
    model = g.make_model(
        [float_input(INPUT_NAME, [BATCH_DIM, 3, CHIP_SIZE, CHIP_SIZE])],
        [float_input(OUTPUT_NAME, [BATCH_DIM, EMBEDDING_SIZE])],
        doc="dlib face recognition ResNet v1 (CC0 weights): raw RGB 150x150 aligned chips -> 128-d "
            "descriptor (Euclidean distance, same person below ~0.6)",
    )
    check_and_save(model, out_path)
    return [
        f"{len(model.graph.node)} nodes, {parameter_count(model):,} parameters (affine layers folded)",
        f"input '{INPUT_NAME}' (N, 3, {CHIP_SIZE}, {CHIP_SIZE}) raw RGB; output '{OUTPUT_NAME}' "
        f"(N, {EMBEDDING_SIZE}), not normalised",
        f"onnxruntime vs a NumPy run of the parsed dlib layers, one synthetic chip: max |diff| "
        f"{_self_check(net, out_path):.2e}",
    ]


def _conv_affine(g: GraphBuilder, x: str, shape: tuple[int, int, int], conv: Conv, affine: Affine,
                 hint: str) -> tuple[str, tuple[int, int, int]]:
    """``affine(conv(x))`` as one Conv: weight * gamma, bias * gamma + beta (float64)."""
    gamma = affine.gamma.astype(np.float64)
    weight = conv.weight.astype(np.float64) * gamma[:, None, None, None]
    bias = conv.bias.astype(np.float64) * gamma + affine.beta.astype(np.float64)
    (sy, sx), (py, px) = conv.stride, conv.padding
    if sy != sx or py != px:
        raise ValueError("non-square conv stride or padding")
    out = g.conv(x, weight.astype(np.float32), bias.astype(np.float32), hint, stride=sy, pad=py)
    kh, kw = conv.weight.shape[2:]
    return out, (conv.weight.shape[0], _out_size(shape[1], kh, sy, py), _out_size(shape[2], kw, sx, px))


def _pool(g: GraphBuilder, x: str, shape: tuple[int, int, int], pool: Pool,
          hint: str) -> tuple[str, tuple[int, int, int]]:
    (ky, kx), (sy, sx), (py, px) = pool.window, pool.stride, pool.padding
    if (ky, kx) == (0, 0):  # *_pool_everything: one value per channel
        op = "GlobalAveragePool" if pool.kind == "avg" else "GlobalMaxPool"
        return g.op(op, [x], hint), (shape[0], 1, 1)
    if ky != kx or sy != sx or py != px or py != 0:
        raise ValueError(f"unsupported dlib pooling {pool}")
    out = g.max_pool(x, hint, ky, sy, 0) if pool.kind == "max" else g.avg_pool(x, hint, ky, sy, 0)
    return out, (shape[0], _out_size(shape[1], ky, sy, 0), _out_size(shape[2], kx, sx, 0))


def _add_padded(g: GraphBuilder, a: tuple[str, tuple[int, int, int]], b: tuple[str, tuple[int, int, int]],
                hint: str) -> tuple[str, tuple[int, int, int]]:
    """dlib's ``tt::add`` of two tensors: the larger shape, the smaller zero-padded at the end."""
    target = tuple(max(p, q) for p, q in zip(a[1], b[1]))
    names = []
    for k, (name, shape) in enumerate((a, b)):
        if shape != target:
            # ONNX pads: (N, C, H, W) begins, then ends; only the ends grow
            pads = [0, 0, 0, 0, 0] + [t - s for t, s in zip(target, shape)]
            pads_name = g.constant(f"{hint}.pads{k}", np.array(pads, np.int64))
            name = g.op("Pad", [name, pads_name], f"{hint}.pad{k}", mode="constant")
        names.append(name)
    return g.op("Add", names, hint), (target[0], target[1], target[2])


def _out_size(n: int, k: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - k) // stride + 1


def _self_check(net: DlibResNet, onnx_path: Path) -> float:
    """onnxruntime's output against a plain NumPy forward pass of the parsed layers."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    chip = rng.integers(0, 256, (1, 3, CHIP_SIZE, CHIP_SIZE)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: chip})[0]
    return max_abs_diff(got, reference_forward(net, chip))


def reference_forward(net: DlibResNet, chips: np.ndarray) -> np.ndarray:
    """The network in NumPy, layer by layer as dlib runs it (no folding): a slow oracle."""
    mean = np.array(net.input.mean_rgb, np.float64).reshape(1, 3, 1, 1)
    x = (chips.astype(np.float64) - mean) / 256.0
    tags: dict[int, np.ndarray] = {}
    for op, layer in zip(net.ops, net.layers):
        if op.kind == "tag":
            tags[op.tag] = x
        elif op.kind == "skip":
            x = tags[op.tag]
        elif isinstance(layer, Conv):
            x = _np_conv(x, layer)
        elif isinstance(layer, Affine):
            x = x * layer.gamma.reshape(1, -1, 1, 1) + layer.beta.reshape(1, -1, 1, 1)
        elif isinstance(layer, Relu):
            x = np.maximum(x, 0)
        elif isinstance(layer, Pool):
            x = _np_pool(x, layer)
        elif isinstance(layer, AddPrev):
            y = tags[op.tag]
            out = np.zeros([max(p, q) for p, q in zip(x.shape, y.shape)])
            out[tuple(slice(0, s) for s in x.shape)] += x
            out[tuple(slice(0, s) for s in y.shape)] += y
            x = out
        elif isinstance(layer, FcNoBias):
            x = x.reshape(len(x), -1) @ layer.weight.astype(np.float64)
    return x


def _np_conv(x: np.ndarray, conv: Conv) -> np.ndarray:
    (s, _), (p, _) = conv.stride, conv.padding
    w = conv.weight.astype(np.float64)
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = _out_size(x.shape[2], kh, s, p), _out_size(x.shape[3], kw, s, p)
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + s * ho:s, j:j + s * wo:s]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j], optimize=True)
    return out + conv.bias.astype(np.float64).reshape(1, -1, 1, 1)


def _np_pool(x: np.ndarray, pool: Pool) -> np.ndarray:
    (k, _), (s, _) = pool.window, pool.stride
    if k == 0:
        return x.mean(axis=(2, 3), keepdims=True) if pool.kind == "avg" else x.max(axis=(2, 3), keepdims=True)
    ho, wo = _out_size(x.shape[2], k, s, 0), _out_size(x.shape[3], k, s, 0)
    windows = [x[:, :, i:i + s * ho:s, j:j + s * wo:s] for i in range(k) for j in range(k)]
    return np.max(windows, axis=0) if pool.kind == "max" else np.mean(windows, axis=0)
