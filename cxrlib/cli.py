"""``cxrlib`` command line: ``cxrlib book``, ``cxrlib download``, ``cxrlib data-check``."""
from __future__ import annotations

import argparse
import sys


def _data_check(args: argparse.Namespace) -> int:
    from cxrlib.data.root import SOURCES, data_root, missing_markers

    root = data_root(args.root)
    print(f"data root: {root}")
    status = 0
    for key, source in SOURCES.items():
        missing = missing_markers(key, root)
        mark = "ok" if not missing else "MISSING"
        print(f"  {mark:7} {key:22} {source.title}")
        if missing and source.classroom:
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    from cxrlib.book import build, paper_smoke
    from cxrlib.data import download

    parser = argparse.ArgumentParser(prog="cxrlib")
    commands = parser.add_subparsers(dest="command", required=True)
    book = commands.add_parser("book", help="execute the notebooks of a profile and build the HTML book")
    build.add_arguments(book)
    book.set_defaults(handler=paper_smoke.book)
    fetch = commands.add_parser("download", help="fetch data sets into the data root (resumable, checksummed)")
    download.add_arguments(fetch)
    fetch.set_defaults(handler=download.run)
    check = commands.add_parser("data-check", help="list which data sets are present under the data root")
    check.add_argument("--root", default=None)
    check.set_defaults(handler=_data_check)
    from cxrlib.training import sweeps
    sweeps.add_arguments(commands.add_parser("sweep", help="experiment grids as Optuna sweeps: run, status, table"))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
