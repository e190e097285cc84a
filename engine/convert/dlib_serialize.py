"""Read dlib's binary serialisation of a DNN (``serialize(net, file)``) without dlib.

dlib writes a network as nested objects, outermost first: the loss layer's version
and details, then every ``add_layer``'s version down to the input layer (tag and skip
layers contribute a version only), then the input layer, then, from the input
outwards, each layer's details followed by its ``add_layer`` state (flags and empty
scratch tensors). The primitives (dlib/serialize.h, dlib/dnn/tensor.h):

* integer: one header byte, low nibble = number of magnitude bytes (<= 8), bit 7 =
  negative; then the magnitude, little-endian;
* string: an integer length, then the bytes;
* float/double: two integers, mantissa and exponent (value = mantissa * 2**exponent);
* bool: the character ``'0'`` or ``'1'``;
* tensor (version 2): version, num_samples, k, nr, nc, then raw little-endian float32;
* alias_tensor (version 1): version, num_samples, k, nr, nc.

Only plain data is read: nothing in the file is executed, and every size read is
bounded (the file itself, string lengths, tensor sizes checked against the bytes
that are left) so a damaged or hostile file fails with one ``ValueError`` line
before any large allocation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The ResNet file is 22.5 MB; anything far larger is not the network this reads.
MAX_FILE_BYTES = 64 << 20
MAX_STRING_BYTES = 64  # layer type names ("input_rgb_image_sized" is the longest)
MAX_INT_BYTES = 8
MAX_EXPONENT = 2048  # |exponent| of a finite double; dlib marks inf/nan with 32000+
TENSOR_VERSION = 2
ALIAS_TENSOR_VERSION = 1
CONV_MODE = 0  # dlib's layer_mode for per-channel affine layers
FC_NO_BIAS = 1  # dlib's fc_bias_mode


@dataclass(frozen=True)
class Conv:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray  # (out,)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class Affine:
    """Per-channel ``x * gamma + beta`` (dlib's inference form of batch norm)."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    """``max_pool_`` or ``avg_pool_``; a 0 window means the whole input (``*_everything``)."""

    kind: str  # "max" or "avg"
    window: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    pass


@dataclass(frozen=True)
class FcNoBias:
    weight: np.ndarray  # (in, out): output = input @ weight


Layer = Conv | Affine | Relu | Pool | AddPrev | FcNoBias


@dataclass(frozen=True)
class InputRgb:
    """``input_rgb_image_sized``: (pixel - mean) / 256 per channel, R, G, B planes."""

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


class DlibReader:
    """A cursor over the bytes of one file; every read checks what is left."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.pos = 0

    @classmethod
    def open(cls, path: Path) -> "DlibReader":
        path = Path(path)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: {size:,} bytes is too large for a dlib network file "
                             f"(at most {MAX_FILE_BYTES:,})")
        return cls(path.read_bytes(), str(path))

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.name}: not the expected dlib network ({what} at byte {self.pos})")

    def _take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"{what} runs past the end of the file")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def integer(self, what: str = "integer") -> int:
        header = self._take(1, what)[0]
        size, negative = header & 0x0F, bool(header & 0x80)
        if size > MAX_INT_BYTES or header & 0x70:
            raise self.fail(f"bad {what} header 0x{header:02x}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if negative else value

    def count(self, what: str, limit: int) -> int:
        """A non-negative integer no larger than ``limit``."""
        value = self.integer(what)
        if not 0 <= value <= limit:
            raise self.fail(f"{what} {value} out of range 0..{limit}")
        return value

    def string(self, what: str = "string") -> str:
        n = self.count(f"{what} length", MAX_STRING_BYTES)
        try:
            return self._take(n, what).decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not ASCII") from None

    def expect(self, text: str) -> None:
        got = self.string("layer type")
        if got != text:
            raise self.fail(f"found layer '{got}' where '{text}' belongs")

    def real(self, what: str = "number") -> float:
        mantissa = self.integer(what)
        exponent = self.integer(what)
        if abs(exponent) > MAX_EXPONENT:
            raise self.fail(f"{what} is not a finite number")
        return float(mantissa) * 2.0 ** exponent

    def boolean(self, what: str = "flag") -> bool:
        c = self._take(1, what)
        if c not in (b"0", b"1"):
            raise self.fail(f"bad {what} byte {c!r}")
        return c == b"1"

    def version(self, what: str, expected: int) -> None:
        got = self.integer(f"{what} version")
        if got != expected:
            raise self.fail(f"{what} version {got}, expected {expected}")

    def _dims(self, what: str) -> tuple[int, int, int, int]:
        # each dimension fits in the file as float32 at the most; the product is checked by the caller
        limit = len(self.data) // 4
        n, k, r, c = (self.count(f"{what} dimension", limit) for _ in range(4))
        return n, k, r, c

    def tensor(self, what: str) -> np.ndarray:
        """A float32 array of dlib's (num_samples, k, nr, nc) shape (a copy: the file can go)."""
        self.version(what, TENSOR_VERSION)
        shape = self._dims(what)
        count = shape[0] * shape[1] * shape[2] * shape[3]
        if count * 4 > len(self.data) - self.pos:
            raise self.fail(f"{what} declares {count:,} floats, more than the file holds")
        raw = self._take(count * 4, what)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self, what: str) -> tuple[int, int, int, int]:
        self.version(what, ALIAS_TENSOR_VERSION)
        return self._dims(what)

    def empty_tensor(self, what: str) -> None:
        """A scratch tensor (gradients, cached outputs): a trained network stores them empty."""
        if self.tensor(what).size:
            raise self.fail(f"{what} should be empty")


def read_layer(r: DlibReader, kind: str) -> Layer:
    """The details of one layer of the ``kind`` the network definition says comes next."""
    if kind == "conv":
        return _read_conv(r)
    if kind == "affine":
        return _read_affine(r)
    if kind == "relu":
        r.expect("relu_")
        return Relu()
    if kind == "add_prev":
        r.expect("add_prev_")
        return AddPrev()
    if kind in ("max_pool", "avg_pool"):
        r.expect(f"{kind}_2")
        nr, nc, sy, sx, py, px = (r.count("pooling size", 1 << 16) for _ in range(6))
        return Pool(kind.removesuffix("_pool"), (nr, nc), (sy, sx), (py, px))
    if kind == "fc_no_bias":
        return _read_fc_no_bias(r)
    raise ValueError(f"unknown dlib layer kind {kind!r}")


def read_input_rgb(r: DlibReader) -> InputRgb:
    r.expect("input_rgb_image_sized")
    red, green, blue = (r.real("channel mean") for _ in range(3))
    rows, cols = (r.count("input size", 1 << 16) for _ in range(2))
    return InputRgb((red, green, blue), rows, cols)


def _read_conv(r: DlibReader) -> Conv:
    r.expect("con_4")
    params = r.tensor("conv parameters").reshape(-1)
    filters, kh, kw = (r.count("conv size", 1 << 16) for _ in range(3))
    sy, sx, py, px = (r.count("conv stride/padding", 1 << 16) for _ in range(4))
    f_n, f_k, f_r, f_c = r.alias_tensor("conv filters")
    b_n, b_k, b_r, b_c = r.alias_tensor("conv biases")
    for _ in range(4):  # learning-rate and weight-decay multipliers (training only)
        r.real("conv multiplier")
    n_weights = f_n * f_k * f_r * f_c
    if (f_n, f_r, f_c) != (filters, kh, kw) or (b_n, b_k, b_r, b_c) != (1, filters, 1, 1) \
            or params.size != n_weights + filters:
        raise r.fail("conv parameter sizes disagree")
    weight = params[:n_weights].reshape(f_n, f_k, f_r, f_c)
    return Conv(weight, params[n_weights:].copy(), (sy, sx), (py, px))


def _read_affine(r: DlibReader) -> Affine:
    r.expect("affine_")
    params = r.tensor("affine parameters").reshape(-1)
    gamma = r.alias_tensor("affine gamma")
    beta = r.alias_tensor("affine beta")
    mode = r.integer("affine mode")
    channels = gamma[1]
    if mode != CONV_MODE or gamma != (1, channels, 1, 1) or beta != gamma or params.size != 2 * channels:
        raise r.fail("affine layer is not per-channel")
    return Affine(params[:channels].copy(), params[channels:].copy())


def _read_fc_no_bias(r: DlibReader) -> FcNoBias:
    r.expect("fc_2")
    outputs = r.count("fc outputs", 1 << 16)
    inputs = r.count("fc inputs", 1 << 16)
    params = r.tensor("fc parameters")
    weights = r.alias_tensor("fc weights")
    r.alias_tensor("fc biases")
    bias_mode = r.integer("fc bias mode")
    for _ in range(4):
        r.real("fc multiplier")
    if bias_mode != FC_NO_BIAS or weights != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
        raise r.fail("fc layer is not fc_no_bias with matching sizes")
    return FcNoBias(params.reshape(inputs, outputs))
