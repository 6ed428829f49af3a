"""Command line: ``python -m paraflowo COMMAND``.

Commands
--------
demo
    Hash a few 5-tuples with the Toeplitz RSS hash and print their RX queues.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m paraflowo`` and the ``paraflowo`` script."""
    parser = argparse.ArgumentParser(prog="paraflowo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="hash a few 5-tuples and print their RSS queues")
    demo.add_argument("--queues", type=int, default=4, help="RX queues (default 4)")
    demo.add_argument("--reta-size", type=int, default=128,
                      help="indirection table entries, a power of two (default 128)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from paraflowo import _demo

        try:
            print(_demo.run(args.queues, args.reta_size))
        except (TypeError, ValueError) as exc:
            parser.exit(2, f"paraflowo demo: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
