"""The command line ``cxrlib download`` (also ``python -m cxrlib.data.download``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from cxrlib.core.config import lookup
from cxrlib.data.download.errors import DownloadError
from cxrlib.data.download.http import (
    CONNECT_TIMEOUT_ENV,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    TIMEOUT_ENV,
)
from cxrlib.data.download.recipes import (
    RECIPES,
    classroom_keys,
    display_title,
    is_present,
    source_of,
)
from cxrlib.data.download.runner import download, log_to_stderr
from cxrlib.data.root import data_root, missing_markers

DESCRIPTION = "``cxrlib download``: fetch the classroom data sets from their original public locations."


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``cxrlib download``."""
    parser.add_argument("keys", nargs="*", metavar="DATASET",
                        help="data sets to fetch (see --list); 'classroom' means every classroom data set")
    parser.add_argument("--root", default=None, help="data root (default: $CXRLIB_DATA, ../shared/data, ~/.local/share/cxrlib/data)")
    parser.add_argument("--missing", action="store_true", help="fetch only the classroom data sets that are missing")
    parser.add_argument("--list", action="store_true", help="list the data sets, their sources and state, then stop")
    parser.add_argument("--force", action="store_true", help="download again even when present")
    parser.add_argument("--keep-downloads", action="store_true", help="keep the archives after unpacking")
    parser.add_argument("--mirror", default=None, metavar="URL", help="fetch every file from URL/<file name> instead")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help=f"longest silence of a server before giving up (default ${TIMEOUT_ENV} or {DEFAULT_TIMEOUT_S:g} s)")
    parser.add_argument("--connect-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"longest wait to connect (default ${CONNECT_TIMEOUT_ENV} or {DEFAULT_CONNECT_TIMEOUT_S:g} s)")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="resumptions after a dropped connection")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _listing(root: Path) -> str:
    lines = [f"data root: {root}"]
    for recipe in RECIPES.values():
        state = "present" if is_present(recipe, root) else ("manual" if recipe.manual else "missing")
        source = source_of(recipe.key)
        classroom = " (classroom)" if recipe.key == source.key and source.classroom else ""
        lines.append(f"  {recipe.key:28s} {state:8s}{classroom}  {display_title(recipe)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Carry out parsed ``cxrlib download`` arguments; 0 when every requested data set is present after it."""
    root = data_root(args.root)
    if args.list:
        print(_listing(root))
        return 0
    options = {"force": args.force, "progress": not args.no_progress, "keep_downloads": args.keep_downloads,
               "base_url": args.mirror, "timeout": args.timeout, "retries": args.retries,
               "connect_timeout": getattr(args, "connect_timeout", None)}
    keys = [k for key in args.keys for k in (classroom_keys() if key == "classroom" else [key])]
    if args.missing:
        keys = [k for k in classroom_keys() if missing_markers(k, root)] + keys
        if not keys:
            print(f"every classroom data set is present under {root}; nothing to download")
            return 0
    if not keys:
        print(_listing(root))
        print("name the data sets to fetch, or use --missing")
        return 2
    try:
        download(keys, root=root, **options)
    except (DownloadError, KeyError, ValueError) as error:
        log_to_stderr(f"error: {error}")
        return 1
    absent = [k for k in dict.fromkeys(keys) if not is_present(lookup(RECIPES, k, what="recipe"), root)]
    if absent:
        log_to_stderr(f"not present after this run: {', '.join(absent)} (see the instructions above)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``cxrlib download`` as a program of its own: parse ``argv`` (default: ``sys.argv``) and :func:`run` it."""
    parser = add_arguments(argparse.ArgumentParser(prog="cxrlib download", description=DESCRIPTION))
    return run(parser.parse_args(argv))
