"""``dgp-studio``: no arguments (or image paths) opens the editor; subcommands run headless.

Each subcommand lives in its own module ``dgp_studio.cli.cmd_<name>`` exposing
``register(subparsers)``; the list below is the only place that names them.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ["restore", "manip", "eval", "train", "models", "bench"]

EPILOG = """examples:
  dgp-studio                                  open the editor
  dgp-studio photo.jpg                        open the editor with a photo
  dgp-studio restore old.jpg --task colorize  colorize with the bundled model -> old_colorize.png
  dgp-studio restore hole.png --task inpaint --mask mask.png --save-session s.dgps
  dgp-studio jitter s.dgps --n 8 --std 0.5    random variations of a restored scene
  dgp-studio restore DIR --task colorize --out-dir OUT   a whole folder
run 'dgp-studio COMMAND --help' for the options of each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgp-studio", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Restore and edit photos with a Deep Generative Prior: a pretrained BigGAN whose "
                    "latent code and weights are fine-tuned to explain your photo.")
    from dgp_studio import __version__
    parser.add_argument("--version", action="version", version=f"dgp-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f"dgp_studio.cli.cmd_{name}")
        except ModuleNotFoundError as e:
            if e.name == f"dgp_studio.cli.cmd_{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if not argv or (argv[0] not in known and not argv[0].startswith("-")):
        from pathlib import Path
        if Path(argv[0]).suffix == "" and not Path(argv[0]).exists():
            # 'dgp-studio restor ...': a mistyped command, not a photo to open in the editor
            print(f"dgp-studio: '{argv[0]}' is neither a command ({', '.join(sorted(known))}) nor a file; "
                  "run 'dgp-studio --help'", file=sys.stderr)
            return 2
        from dgp_studio.gui.app import run_app  # the editor; image paths may follow
        return run_app(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .common import UserError
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"dgp-studio: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dgp-studio: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError, ValueError, OSError) as e:
        # engine errors (bad checkpoint, session, image, out-of-memory): one line, what to try next
        from dgp_studio.core.errors import free_memory, friendly_error, is_out_of_memory
        if is_out_of_memory(e):
            free_memory()
        print(f"dgp-studio: error: {friendly_error(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
