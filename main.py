"""Relit's single entry point.

    python main.py                 open the GUI on the bundled sample capture
    python main.py PATH            open the GUI on a capture folder or saved scene
    python main.py info CAPTURE    describe a capture folder
    python main.py <cmd> --help    help for each subcommand
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand name -> module under app.cli with add_arguments(parser) and run(args) -> int.
SUBCOMMANDS: dict[str, str] = {
    "info": "app.cli.info",
    "fit": "app.cli.fit",
    "render": "app.cli.render",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relit",
        description="Relit: relighting and material editing by inverse rendering. "
        "With no subcommand, opens the GUI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        from app.gui import run_gui

        return run_gui(argv)
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command])
    from models.errors import RelitError

    try:
        return int(module.run(args) or 0)
    except RelitError as exc:
        print(f"relit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"relit {args.command}: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
