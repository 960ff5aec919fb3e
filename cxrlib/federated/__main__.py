"""``python -m cxrlib.federated verify <ledger.jsonl> (--keys public_keys.json | --fingerprint HEX)``: check a
ledger against public keys taken from outside it (exit 0 when it verifies, 1 naming the first bad record
otherwise, 2 for an unreadable ledger or keys file); ``server``/``client``: the processes that
:func:`cxrlib.federated.flower_app.run_federation` starts."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxrlib.federated", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify a ledger: chain, hashes, signatures, round order, quorum, and "
                                          "that its genesis registers the trusted public keys")
    check.add_argument("ledger")
    trust = check.add_mutually_exclusive_group(required=True)
    trust.add_argument("--keys", metavar="FILE",
                       help="the federation's public-keys file (public_keys.json), obtained apart from the ledger")
    trust.add_argument("--fingerprint", metavar="HEX",
                       help="the SHA-256 fingerprint of the federation's public keys, obtained apart from the ledger")
    check.add_argument("--open", action="store_true", help="accept a ledger still being written (no close record)")
    if any(a in ("server", "client") for a in (argv if argv is not None else sys.argv[1:])[:1]):
        from cxrlib.federated import flower_app, ledger

        flower_app.add_process_arguments(sub)
        args = parser.parse_args(argv)
        try:
            return flower_app.run_process(args)
        except ledger.KeyFileError as error:
            print(error, file=sys.stderr)
            return 2
    args = parser.parse_args(argv)
    from cxrlib.federated import ledger

    if not Path(args.ledger).is_file():
        print(f"no ledger file at {args.ledger}", file=sys.stderr)
        return 2
    try:
        trusted = ledger.read_public_keys(args.keys) if args.keys else args.fingerprint.strip().lower()
    except ledger.KeyFileError as error:
        print(error, file=sys.stderr)
        return 2
    if isinstance(trusted, str) and not re.fullmatch("[0-9a-f]{64}", trusted):
        print(f"--fingerprint {args.fingerprint!r} is not a SHA-256 fingerprint (64 hex digits)", file=sys.stderr)
        return 2
    report = ledger.verify_ledger(args.ledger, trusted=trusted, require_close=not args.open)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1 if report.readable else 2


if __name__ == "__main__":
    sys.exit(main())
