"""``python -m oculo.testing tiny-model ARCH DIR``: build a tiny random-weight model folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .tiny import ARCHES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oculo.testing", description="oculo test helpers")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tiny = sub.add_parser(
        "tiny-model",
        help="write a tiny random-weight vision-language model folder (nothing is downloaded)",
        description="Write a tiny random-weight model folder that loads with AutoProcessor / "
        "AutoModelForImageTextToText.from_pretrained, then print its path.",
    )
    tiny.add_argument("arch", metavar="ARCH", help=f"architecture: {', '.join(ARCHES)}")
    tiny.add_argument("dir", metavar="DIR", help="output folder (created if missing)")
    tiny.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "tiny-model":
        if args.arch not in ARCHES:
            print(
                f"error: unknown arch {args.arch!r}; choose one of: {', '.join(ARCHES)}",
                file=sys.stderr,
            )
            return 2
        from .tiny import tiny_model

        path = tiny_model(args.arch, args.dir, seed=args.seed)
        print(path)
        return 0
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
