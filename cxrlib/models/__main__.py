"""``python -m cxrlib.models fetch <key> [--tag TAG] [--weights-dir DIR]``; ``python -m cxrlib.models list``."""
from __future__ import annotations

import argparse
import sys

from .registry import REGISTRY, registry_rows
from .weights import fetch_weights, resolve_weights_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxrlib.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download a backbone's pretrained weights into the weights folder")
    fetch.add_argument("key", choices=sorted(REGISTRY))
    fetch.add_argument("--tag", default=None, help="weight tag (default: the backbone's default weights)")
    fetch.add_argument("--weights-dir", default=None, help="weights folder (default: $CXRLIB_WEIGHTS or ~/.cache/cxrlib/weights)")
    sub.add_parser("list", help="print the backbone registry")
    args = parser.parse_args(argv)
    if args.command == "list":
        for row in registry_rows():
            print(" | ".join(f"{k}: {v}" for k, v in row.items()))
        return 0
    path = fetch_weights(args.key, args.tag, resolve_weights_dir(args.weights_dir))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
