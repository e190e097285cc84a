"""The torch-free reader of legacy (pre-1.6) PyTorch checkpoints.

The real upstream files only use contiguous, zero-offset tensors, so the less
common layouts (strided views, storage offsets, shared storages, int64 BN
counters) are exercised on small checkpoints written here opcode by opcode.
"""
from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.convert.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, load_legacy_state_dict


@pytest.fixture(scope="module")
def regressor_pth(data_dir: Path) -> Path:
    return data_dir / "3ddfa_v2" / "mb05_120x120.pth"


@pytest.fixture(scope="module")
def faceboxes_pth(data_dir: Path) -> Path:
    return data_dir / "3ddfa_v2" / "FaceBoxesProd.pth"


# --------------------------------------------------------------------------- real checkpoints
def _assert_clean_state_dict(sd: dict[str, np.ndarray]) -> None:
    assert not any(k.startswith("module.") for k in sd)
    assert not any(k.endswith("num_batches_tracked") for k in sd)
    for key, value in sd.items():
        assert value.dtype == np.float32, key
        assert value.flags.c_contiguous and value.flags.owndata, key
        assert np.isfinite(value).all(), key
    for key in (k for k in sd if k.endswith("running_var")):
        assert (sd[key] > 0).all(), key


def test_regressor_checkpoint(regressor_pth: Path) -> None:
    sd = load_legacy_state_dict(regressor_pth)
    _assert_clean_state_dict(sd)
    expected = {
        "conv1.weight": (16, 3, 3, 3),  # 32 * 0.5
        "bn1.running_var": (16,),
        "dw2_1.conv_dw.weight": (16, 1, 3, 3),
        "dw2_1.conv_sep.weight": (32, 16, 1, 1),
        "dw5_6.conv_sep.weight": (512, 256, 1, 1),
        "dw6.conv_sep.weight": (512, 512, 1, 1),
        "dw6.bn_sep.running_mean": (512,),
        "fc_param.weight": (62, 512),
        "fc_param.bias": (62,),
        "fc_lm.weight": (136, 512),  # training-only landmark head, present but unused
    }
    for key, shape in expected.items():
        assert sd[key].shape == shape, key
    blocks = {k.split(".")[0] for k in sd if k.startswith("dw")}
    assert len(blocks) == 13
    assert len(sd) == 139  # 1 stem conv + 13 * 2 convs, each with 4 BN tensors; 2 fc layers


def test_faceboxes_checkpoint(faceboxes_pth: Path) -> None:
    sd = load_legacy_state_dict(faceboxes_pth)
    _assert_clean_state_dict(sd)
    expected = {
        "conv1.conv.weight": (24, 3, 7, 7),
        "conv1.bn.weight": (24,),  # BN before the CReLU: 24 channels, doubled afterwards
        "conv2.conv.weight": (64, 48, 5, 5),
        "inception1.branch1x1.conv.weight": (32, 128, 1, 1),
        "inception3.branch3x3_3.conv.weight": (32, 32, 3, 3),
        "conv3_2.conv.weight": (256, 128, 3, 3),
        "conv4_2.conv.weight": (256, 128, 3, 3),
        "loc.0.weight": (84, 128, 3, 3),  # 21 anchors * 4
        "conf.0.weight": (42, 128, 3, 3),  # 21 anchors * 2 classes
        "loc.2.bias": (4,),
        "conf.2.bias": (2,),
    }
    for key, shape in expected.items():
        assert sd[key].shape == shape, key
    assert not any(k.endswith("conv.bias") for k in sd)  # convs before BN carry no bias


# --------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("keep", [12, 100, 5_000, 30_000, 2_000_000, -1])
def test_truncated_checkpoint_is_rejected(regressor_pth: Path, tmp_path: Path, keep: int) -> None:
    data = regressor_pth.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:keep])
    with pytest.raises(ValueError, match=r"cut\.pth is truncated") as info:
        load_legacy_state_dict(cut)
    assert "\n" not in str(info.value)


def test_random_bytes_are_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"junk\.pth is not a legacy PyTorch checkpoint"):
        load_legacy_state_dict(junk)


def test_zip_checkpoint_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match=r"new\.pth is a zip-format"):
        load_legacy_state_dict(path)


def test_empty_and_missing_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_legacy_state_dict(tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="cannot read"):
        load_legacy_state_dict(tmp_path / "absent.pth")


def test_foreign_globals_are_refused(tmp_path: Path) -> None:
    """A pickle calling anything but the tensor rebuild helpers never executes."""
    marker = tmp_path / "pwned"
    body = _global("os", "system") + _tuple([_str(f"touch {marker}")]) + b"R"
    path = tmp_path / "evil.pth"
    path.write_bytes(_header() + b"\x80\x02" + body + b"." + pickle.dumps([], protocol=2))
    with pytest.raises(ValueError, match=r"evil\.pth .*refused global os\.system") as info:
        load_legacy_state_dict(path)
    assert not marker.exists() and "\n" not in str(info.value)


def test_a_tiny_file_cannot_ask_for_gigabytes(tmp_path: Path) -> None:
    """A ~200-byte checkpoint declaring a stride-0 tensor of 10 G float32 elements (37 GiB) on a
    one-element storage is refused before anything is allocated."""
    import tracemalloc

    path = tmp_path / "bomb.pth"
    _write_checkpoint(path, {"w": ("s0", "FloatStorage", 0, (100_000, 100_000), (0, 0))},
                      {"s0": np.zeros(1, np.float32)}, wrapped=False)
    assert path.stat().st_size < 400
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.pth is corrupt \(a tensor of 10000000000 elements") as info:
            load_legacy_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and "\n" not in str(info.value)


def test_many_views_of_one_storage_cannot_multiply_it_without_bound(tmp_path: Path) -> None:
    storage = np.zeros(200_000, np.float32)  # 800 kB in the file, 1000 full views = 800 MB of copies
    path = tmp_path / "views.pth"
    _write_checkpoint(path, {f"w{i}": ("s0", "FloatStorage", 0, (200_000,), (1,)) for i in range(1000)},
                      {"s0": storage}, wrapped=False)
    with pytest.raises(ValueError, match=r"views\.pth is corrupt \(its tensors would take \d+ bytes"):
        load_legacy_state_dict(path)


def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path: Path) -> None:
    depth = 200_000
    body = b"]" * depth + b"a" * (depth - 1)  # EMPTY_LIST x n, APPEND x n-1: lists in lists
    path = tmp_path / "deep.pth"
    path.write_bytes(_header() + b"\x80\x02" + body + b"." + pickle.dumps([], protocol=2))
    with pytest.raises(ValueError, match=r"deep\.pth nests containers more than 100 levels deep") as info:
        load_legacy_state_dict(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- tensor layouts
def test_views_offsets_and_shared_storages(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float32)
    storages = {"s0": base, "s1": np.array([7], np.int64), "s2": np.linspace(0, 1, 5)}
    tensors = {
        "module.plain.weight": ("s0", "FloatStorage", 0, (2, 3, 4), (12, 4, 1)),
        "module.transposed": ("s0", "FloatStorage", 0, (4, 3), (1, 4)),  # a .t() view
        "module.slice": ("s0", "FloatStorage", 5, (2, 2), (6, 2)),  # offset and gaps
        "module.broadcast": ("s0", "FloatStorage", 3, (2, 3), (0, 1)),  # expand(): stride 0
        "module.bn.num_batches_tracked": ("s1", "LongStorage", 0, (), ()),
        "module.double": ("s2", "DoubleStorage", 1, (3,), (1,)),
    }
    for wrapped in (True, False):
        path = tmp_path / f"synthetic_{wrapped}.pth"
        _write_checkpoint(path, tensors, storages, wrapped)
        sd = load_legacy_state_dict(path)
        assert sorted(sd) == ["broadcast", "double", "plain.weight", "slice", "transposed"]
        np.testing.assert_array_equal(sd["plain.weight"], base.reshape(2, 3, 4))
        np.testing.assert_array_equal(sd["transposed"], base[:12].reshape(3, 4).T)
        np.testing.assert_array_equal(sd["slice"], [[5, 7], [11, 13]])
        np.testing.assert_array_equal(sd["broadcast"], [[3, 4, 5], [3, 4, 5]])
        np.testing.assert_array_equal(sd["double"], storages["s2"][1:4])
        assert sd["double"].dtype == np.float64
        for value in sd.values():
            assert value.flags.c_contiguous and value.flags.owndata


def test_tensor_past_its_storage_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "overrun.pth"
    _write_checkpoint(path, {"w": ("s0", "FloatStorage", 2, (2, 3), (3, 1))},
                      {"s0": np.zeros(6, np.float32)}, wrapped=False)
    with pytest.raises(ValueError, match=r"overrun\.pth is corrupt"):
        load_legacy_state_dict(path)


# --------------------------------------------------------------------------- a minimal torch.save writer
def _str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)  # BININT


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _ordered_dict(items: list[bytes]) -> bytes:
    return _global("collections", "OrderedDict") + b")R" + (b"(" + b"".join(items) + b"u" if items else b"")


def _tensor(key: str, storage_type: str, numel: int, offset: int, size: tuple, stride: tuple) -> bytes:
    """``_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())``."""
    pid = _tuple([_str("storage"), _global("torch", storage_type), _str(key), _str("cpu"), _int(numel), b"N"])
    args = [pid + b"Q", _int(offset), _tuple([_int(s) for s in size]), _tuple([_int(s) for s in stride]),
            b"\x89", _ordered_dict([])]
    return _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"


def _header() -> bytes:
    sys_info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 8}}
    return b"".join(pickle.dumps(x, protocol=2) for x in (MAGIC_NUMBER, PROTOCOL_VERSION, sys_info))


def _write_checkpoint(path: Path, tensors: dict[str, tuple], storages: dict[str, np.ndarray],
                      wrapped: bool) -> None:
    """Write ``tensors`` {name: (storage key, storage type, offset, size, stride)} the way torch<1.6 did."""
    items = [_str(name) + _tensor(key, stype, storages[key].size, offset, size, stride)
             for name, (key, stype, offset, size, stride) in tensors.items()]
    obj = _ordered_dict(items)
    if wrapped:
        obj = b"}(" + _str("epoch") + _int(3) + _str("state_dict") + obj + b"u"
    keys = list(storages)
    data = b"".join(struct.pack("<q", storages[k].size) + _little_endian_bytes(storages[k]) for k in keys)
    path.write_bytes(_header() + b"\x80\x02" + obj + b"." + pickle.dumps(keys, protocol=2) + data)


def _little_endian_bytes(a: np.ndarray) -> bytes:
    return a.astype(a.dtype.newbyteorder("<")).tobytes()
