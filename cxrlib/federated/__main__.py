"""``python -m cxrlib.federated verify <ledger.jsonl>``: check a ledger (exit 0 when it verifies, 1 naming
the first bad record otherwise, 2 for an unreadable file); ``server``/``client``: the processes that
:func:`cxrlib.federated.flower_app.run_federation` starts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxrlib.federated", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify a ledger: chain, hashes, signatures, round order, quorum")
    check.add_argument("ledger")
    check.add_argument("--open", action="store_true", help="accept a ledger still being written (no close record)")
    if any(a in ("server", "client") for a in (argv if argv is not None else sys.argv[1:])[:1]):
        from cxrlib.federated import flower_app

        flower_app.add_process_arguments(sub)
        args = parser.parse_args(argv)
        return flower_app.run_process(args)
    args = parser.parse_args(argv)
    from cxrlib.federated import ledger

    if not Path(args.ledger).is_file():
        print(f"no ledger file at {args.ledger}", file=sys.stderr)
        return 2
    report = ledger.verify_ledger(args.ledger, require_close=not args.open)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
