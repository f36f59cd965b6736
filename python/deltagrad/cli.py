"""The `deltagrad` command: info | train | curve-fit | bench."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    from ._runtime import info

    facts = info()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _not_yet(name: str):
    def run(args: argparse.Namespace) -> int:
        print(f"deltagrad {name}: not there yet", file=sys.stderr)
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltagrad", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, build, CPU ISA, threads, CUDA")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(func=_cmd_info)
    for name in ("train", "curve-fit", "bench"):
        sub.add_parser(name).set_defaults(func=_not_yet(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
