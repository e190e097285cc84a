"""Independent NumPy forward passes of the two upstream networks, straight from the state dict.

Written from the upstream PyTorch module definitions (mobilenet_v1.py and
faceboxes.py of 3DDFA_V2), layer by layer, with batch norm applied *unfolded*
and CReLU as a literal concat(y, -y), so that comparing against the ONNX graphs
checks the BN folding, the CReLU rewrite and the head layout too. Everything is
computed in float64: this is the ground truth the float32 graphs are held to.
Deliberately shares no code with engine/convert.
"""
from __future__ import annotations

import numpy as np

StateDict = dict[str, np.ndarray]


# --------------------------------------------------------------------------- layers
def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
           padding: int = 0, groups: int = 1) -> np.ndarray:
    """PyTorch Conv2d semantics (zero padding, groups) via sliding windows + einsum."""
    n, c, _, _ = x.shape
    out_ch, c_per_group, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    ho, wo = windows.shape[2:4]
    windows = windows.reshape(n, groups, c // groups, ho, wo, kh, kw)
    w = weight.astype(np.float64).reshape(groups, out_ch // groups, c_per_group, kh, kw)
    if groups == 1:
        out = np.tensordot(windows[:, 0], w[0], axes=([1, 4, 5], [1, 2, 3]))  # (n, ho, wo, out)
        out = out.transpose(0, 3, 1, 2)
    else:
        out = np.einsum("ngchwij,gocij->ngohw", windows, w).reshape(n, out_ch, ho, wo)
    if bias is not None:
        out = out + bias.astype(np.float64).reshape(1, -1, 1, 1)
    return out


def batch_norm(x: np.ndarray, sd: StateDict, prefix: str, eps: float = 1e-5) -> np.ndarray:
    """Inference-mode BatchNorm2d with running statistics."""
    def p(k: str) -> np.ndarray:
        return sd[f"{prefix}.{k}"].astype(np.float64).reshape(1, -1, 1, 1)

    return (x - p("running_mean")) / np.sqrt(p("running_var") + eps) * p("weight") + p("bias")


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def max_pool2d(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.max(axis=(4, 5))


def avg_pool2d(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """F.avg_pool2d with its default count_include_pad=True: padded zeros count."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.mean(axis=(4, 5))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- MobileNet-V1 regressor
MOBILENET_BLOCKS = [  # (name, stride) in forward order, as in mobilenet_v1.py
    ("dw2_1", 1), ("dw2_2", 2), ("dw3_1", 1), ("dw3_2", 2), ("dw4_1", 1), ("dw4_2", 2),
    ("dw5_1", 1), ("dw5_2", 1), ("dw5_3", 1), ("dw5_4", 1), ("dw5_5", 1), ("dw5_6", 2), ("dw6", 1),
]


def mobilenet_forward(sd: StateDict, bgr_nchw: np.ndarray) -> np.ndarray:
    """Whitened 62-d output (before ``* std + mean``) for raw BGR crops (N, 3, 120, 120)."""
    x = (bgr_nchw.astype(np.float64) - 127.5) / 128.0
    x = relu(batch_norm(conv2d(x, sd["conv1.weight"], stride=2, padding=1), sd, "bn1"))
    for name, stride in MOBILENET_BLOCKS:
        dw = sd[f"{name}.conv_dw.weight"]
        x = conv2d(x, dw, stride=stride, padding=1, groups=dw.shape[0])
        x = relu(batch_norm(x, sd, f"{name}.bn_dw"))
        x = relu(batch_norm(conv2d(x, sd[f"{name}.conv_sep.weight"]), sd, f"{name}.bn_sep"))
    features = x.mean(axis=(2, 3))
    return features @ sd["fc_param.weight"].astype(np.float64).T + sd["fc_param.bias"]


# --------------------------------------------------------------------------- FaceBoxes detector
def _basic_conv(sd: StateDict, x: np.ndarray, name: str, stride: int = 1, padding: int = 0) -> np.ndarray:
    return relu(batch_norm(conv2d(x, sd[f"{name}.conv.weight"], stride=stride, padding=padding), sd, f"{name}.bn"))


def _crelu(sd: StateDict, x: np.ndarray, name: str, stride: int, padding: int) -> np.ndarray:
    y = batch_norm(conv2d(x, sd[f"{name}.conv.weight"], stride=stride, padding=padding), sd, f"{name}.bn")
    return relu(np.concatenate([y, -y], axis=1))


def _inception(sd: StateDict, x: np.ndarray, name: str) -> np.ndarray:
    b1 = _basic_conv(sd, x, f"{name}.branch1x1")
    b2 = _basic_conv(sd, avg_pool2d(x, 3, 1, 1), f"{name}.branch1x1_2")
    b3 = _basic_conv(sd, _basic_conv(sd, x, f"{name}.branch3x3_reduce"), f"{name}.branch3x3", padding=1)
    b4 = _basic_conv(sd, x, f"{name}.branch3x3_reduce_2")
    b4 = _basic_conv(sd, b4, f"{name}.branch3x3_2", padding=1)
    b4 = _basic_conv(sd, b4, f"{name}.branch3x3_3", padding=1)
    return np.concatenate([b1, b2, b3, b4], axis=1)


def faceboxes_forward(sd: StateDict, bgr_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(loc (N, A, 4), class probabilities (N, A, 2)) for raw BGR images (N, 3, H, W)."""
    x = bgr_nchw.astype(np.float64) - np.array([104.0, 117.0, 123.0]).reshape(1, 3, 1, 1)
    x = max_pool2d(_crelu(sd, x, "conv1", stride=4, padding=3), 3, 2, 1)
    x = max_pool2d(_crelu(sd, x, "conv2", stride=2, padding=2), 3, 2, 1)
    for name in ("inception1", "inception2", "inception3"):
        x = _inception(sd, x, name)
    sources = [x]
    x = _basic_conv(sd, _basic_conv(sd, x, "conv3_1"), "conv3_2", stride=2, padding=1)
    sources.append(x)
    x = _basic_conv(sd, _basic_conv(sd, x, "conv4_1"), "conv4_2", stride=2, padding=1)
    sources.append(x)
    n = bgr_nchw.shape[0]
    loc = np.concatenate([_head(sd, src, f"loc.{i}") for i, src in enumerate(sources)], axis=1)
    conf = np.concatenate([_head(sd, src, f"conf.{i}") for i, src in enumerate(sources)], axis=1)
    return loc.reshape(n, -1, 4), softmax(conf.reshape(n, -1, 2))


def _head(sd: StateDict, src: np.ndarray, name: str) -> np.ndarray:
    """3x3 conv with bias, permuted to NHWC and flattened per image."""
    y = conv2d(src, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)
    return y.transpose(0, 2, 3, 1).reshape(y.shape[0], -1)
