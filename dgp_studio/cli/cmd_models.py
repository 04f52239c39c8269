"""``dgp-studio models list|add|check|remove|download``: the model manager from the shell."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ProgressBar, UserError

HELP = """examples:
  dgp-studio models list
  dgp-studio models add ~/models/biggan256 --name biggan-256
  dgp-studio models check biggan-256
  dgp-studio models remove biggan-256          (forgets it; the files stay)
  dgp-studio models download URL --sha256 HEX --to ~/models/biggan256"""


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, add, check, remove or download models",
                              description="Manage the models DGP Studio can use: the bundled prior and "
                                          "folders you register (released BigGAN checkpoints or our format).",
                              epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    sub.add_parser("list", help="registered models").set_defaults(func=cmd_list)
    a = sub.add_parser("add", help="register a model folder or checkpoint file (checked first)")
    a.add_argument("path")
    a.add_argument("--name", help="name to use (default: the model's own name or the folder name)")
    a.set_defaults(func=cmd_add)
    c = sub.add_parser("check", help="validate a model and show its size, classes and file hashes")
    c.add_argument("model", metavar="NAME_OR_PATH")
    c.add_argument("--no-hash", action="store_true", help="skip the SHA-256 of the files (faster)")
    c.set_defaults(func=cmd_check)
    r = sub.add_parser("remove", help="forget a registered model (its files are kept)")
    r.add_argument("name")
    r.set_defaults(func=cmd_remove)
    d = sub.add_parser("download", help="download a checkpoint file from an address you give (resumable)")
    d.add_argument("url")
    d.add_argument("--sha256", required=True, help="expected SHA-256 of the file (64 hex digits)")
    d.add_argument("--to", required=True, metavar="DIR", help="folder to put it in")
    d.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_download)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _store():
    from dgp_studio.core.modelstore import ModelStore
    return ModelStore()


def _errors():
    from dgp_studio.core.checkpoint import CheckpointError
    from dgp_studio.core.modelstore import ModelStoreError
    return (CheckpointError, ModelStoreError)


def cmd_list(args) -> int:
    try:
        entries = _store().list()
    except _errors() as e:
        raise UserError(str(e)) from None
    width = max(len(e.name) for e in entries)
    for e in entries:
        tag = "bundled" if e.bundled else "added"
        state = "" if e.exists else "  (missing)"
        print(f"{e.name.ljust(width)}  {tag:7}  {e.path}{state}")
    return 0


def cmd_add(args) -> int:
    from dgp_studio.core.modelstore import check_model
    try:
        report = check_model(Path(args.path).expanduser(), hash_files=False)  # says so if it is not there
        e = _store().add(args.path, name=args.name or report.name, check=False)
    except _errors() as err:
        raise UserError(str(err)) from None
    print(f"added '{e.name}' -> {e.path}")
    if not report.has_D:  # registered all the same: the D file may be put beside it later
        print("note: this model has no discriminator, so it cannot restore photos until its D checkpoint "
              "(D_<suffix>.pth or D.pth) is beside the generator's file", file=sys.stderr)
    return 0


def cmd_check(args) -> int:
    from dgp_studio.core.modelstore import check_model
    try:
        path = _store().resolve(args.model)
        report = check_model(path, hash_files=not args.no_hash)
    except _errors() as e:
        raise UserError(str(e)) from None
    print("\n".join(report.lines()))
    return 0


def cmd_remove(args) -> int:
    try:
        e = _store().remove(args.name)
    except _errors() as err:
        raise UserError(str(err)) from None
    print(f"removed '{e.name}' from the list (files kept in {e.path})")
    return 0


def cmd_download(args) -> int:
    from dgp_studio.core.modelstore import DownloadError, download
    bar = ProgressBar("download", enabled=not args.quiet)

    def progress(done, total):
        bar.update(done, total or max(done, 1), f"{done / 1e6:.1f} MB")

    try:
        path = download(args.url, args.sha256, args.to, progress=progress)
    except DownloadError as e:
        bar.close()
        raise UserError(str(e)) from None
    bar.close()
    print(f"saved {path} (SHA-256 verified)", file=sys.stdout)
    print(f"register it with: dgp-studio models add {path.parent}")
    return 0
