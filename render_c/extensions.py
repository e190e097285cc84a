"""How the compiled extensions are built: the one definition used by the wheel build
(``setup.py``), the in-place development build (``build_ext.py``) and the sanitiser
test (``tests/test_render_sanitize.py``).

Imported only at build time; needs setuptools, Cython and NumPy, none at run time.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# No FMA contraction: the C kernels and their NumPy references agree bit for bit.
# AVX2/F16C are not switched on globally: render_c/morph.c compiles its fast kernel
# with a target attribute and picks it at run time, so one wheel runs on any x86-64.
RELEASE_FLAGS = ["-O3", "-ffp-contract=off"]
# float-cast-overflow is outside GCC's `undefined` group, yet it is the rasteriser's risk.
SANITIZERS = "-fsanitize=address,undefined,float-cast-overflow"
SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off", SANITIZERS,
                  "-fno-sanitize-recover=all"]
# Set to 1 to build a wheel (or `pip install .`) with the sanitisers.
SANITIZE_ENV = "TRACKER_BUILD_SANITIZE"


def sanitize_requested() -> bool:
    return os.environ.get(SANITIZE_ENV, "") not in ("", "0")


def extensions(sanitize: bool = False, names: set[str] | None = None) -> list[Any]:
    """The render_c extensions (all, or those in ``names``), with source paths relative
    to the project folder, which must be the current folder (setuptools wants that)."""
    import numpy as np
    from setuptools import Extension

    flags = SANITIZE_FLAGS if sanitize else RELEASE_FLAGS
    link = [SANITIZERS] if sanitize else []
    rc = Path("render_c")
    sources = {
        "render_c._nms": ([rc / "_nms.pyx"], []),
        "render_c._raster": ([rc / "_raster.pyx", rc / "rasterize.c"], [rc / "rasterize.h"]),
        "render_c._morph": ([rc / "_morph.pyx", rc / "morph.c"], [rc / "morph.h"]),
    }
    return [Extension(name, [str(s) for s in srcs], include_dirs=[np.get_include(), str(rc)],
                      extra_compile_args=flags, extra_link_args=link, depends=[str(d) for d in deps])
            for name, (srcs, deps) in sources.items() if names is None or name in names]


def cythonized(sanitize: bool = False, names: set[str] | None = None, force: bool = False) -> list[Any]:
    from Cython.Build import cythonize

    return list(cythonize(extensions(sanitize, names), quiet=True, language_level=3,
                          force=force or sanitize))


def build_in_place(root: Path, sanitize: bool = False, force: bool = False,
                   names: set[str] | None = None) -> None:
    """Compile next to the sources of the project folder ``root`` (``build_ext --inplace``)."""
    from setuptools import Distribution

    root = Path(root).resolve()
    cwd = Path.cwd()
    os.chdir(root)  # setuptools writes in-place outputs relative to the current folder
    try:
        dist = Distribution({"ext_modules": cythonized(sanitize, names, force)})
        cmd = dist.get_command_obj("build_ext")
        cmd.inplace = True
        cmd.force = force or sanitize
        cmd.build_temp = str(root / "build" / ("sanitize" if sanitize else "release"))
        cmd.ensure_finalized()
        cmd.run()
    finally:
        os.chdir(cwd)
