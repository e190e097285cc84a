"""Wheel build of the compiled extensions; everything else is in pyproject.toml.

The extension list comes from render_c/extensions.py, shared with build_ext.py's
in-place build. TRACKER_BUILD_SANITIZE=1 builds them with ASan/UBSan.
"""
import sys
from pathlib import Path

from setuptools import setup

# The build backend runs this in the project folder but does not put it on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from render_c.extensions import cythonized, sanitize_requested  # noqa: E402

setup(ext_modules=cythonized(sanitize=sanitize_requested()))
