#!/usr/bin/env python3
"""Development set-up in a checkout: compile the extensions in place, convert the data.

    python build_ext.py [--data DIR] [--bfm bfm_noneck_v3.pkl] [--force] [--sanitize]

Steps, each skipped when its output is newer than what it was built from:
  1. compile render_c/_nms, _raster and _morph in place (the same extension list
     as the wheel build, render_c/extensions.py);
  2. what `tracker-app setup` does (engine/assets.py): verify DIR/SHA256SUMS
     (default DIR: $TRACKER_DATA_DIR or ../shared/data) and write the two ONNX graphs
     and the dense face model into weights/ ($TRACKER_WEIGHTS_DIR or --weights).
Installed from a wheel, the extensions are built already: run `tracker-app setup`.
Any failure ends with one line on stderr naming what is wrong, and exit code 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))  # run from a clean clone before `pip install -e .`

from engine.assets import default_data_dir, default_weights_dir, install_assets  # noqa: E402
from engine.errors import TrackerError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(),
                        help="folder with the upstream data (default: %(default)s)")
    parser.add_argument("--bfm", type=Path, default=None,
                        help="official bfm_noneck_v3.pkl; when given it replaces the rebuilt dense model")
    parser.add_argument("--weights", type=Path, default=default_weights_dir(),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild everything")
    parser.add_argument("--sanitize", action="store_true",
                        help="compile the C extensions with -fsanitize=address,undefined (for tests)")
    parser.add_argument("--extensions-only", action="store_true", help="only compile the extensions")
    args = parser.parse_args(argv)
    try:
        build_extensions(sanitize=args.sanitize, force=args.force)
        if not args.extensions_only:
            install_assets(args.data, args.weights, bfm=args.bfm, force=args.force)
    except (TrackerError, OSError) as e:
        print(f"build_ext.py: error: {e}", file=sys.stderr)
        return 1
    return 0


def build_extensions(sanitize: bool, force: bool) -> None:
    """Compile the Cython/C extensions of render_c/ in place."""
    from render_c.extensions import build_in_place

    t = time.perf_counter()
    try:
        build_in_place(REPO_ROOT, sanitize=sanitize, force=force)
    except ImportError as e:
        raise OSError(f"{e.name} is needed to build the extensions: pip install -e '.[setup]'") from None
    except Exception as e:  # setuptools raises several unrelated types here
        raise OSError(f"compiling the extensions failed: {e}") from None
    label = " (sanitizers on)" if sanitize else ""
    print(f"[done] extensions render_c._nms, _raster, _morph{label} ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
