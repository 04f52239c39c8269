"""``dgp-studio jitter|transfer|morph``: manipulations from saved sessions, no optimisation."""
from __future__ import annotations

import os
from pathlib import Path

from .common import UserError, add_model_args, load_model, output_folder, pick_device

MAX_JITTER_STD = 10.0  # z is drawn with std 0.3-0.5; the editor's slider ends at 1.5; beyond 10 only noise

MAX_SIZE = 4096              # --size: one image's long side
MAX_PIXELS = 128_000_000     # --size x images held at once (a 4 x 4096^2 sheet; ~0.4 GB as RGB)
MAX_FRAMES = 1000            # morph: a 40 s GIF at 25 frames a second


def _load(path, gan, protected: list):
    """The session's result; its photo and restored file join ``protected`` (never written over)."""
    from dgp_studio.core.session import SessionError, load_session
    try:
        result, meta = load_session(path, gan)
    except SessionError as e:
        raise UserError(str(e)) from None
    protected.append(path)
    for key in ("source", "output"):  # absolute; older sessions: as given at restore time
        if isinstance(meta.get(key), str) and meta[key]:
            protected += [Path(meta[key]), Path(path).parent / meta[key]]
    return result


def _out(out, default: Path) -> Path:
    """--out as given, or ``default``; a folder (existing, or written with a trailing slash)
    gets ``default``'s name in it, as restore's --out does."""
    if not out:
        return default
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        return Path(out) / default.name
    return Path(out)


def _checked(path: Path, inputs) -> Path:
    """``path`` (PNG when it has no extension), refused when it is one of the inputs."""
    from dgp_studio.core.export import check_not_input
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    try:
        check_not_input(path, inputs)
    except ValueError:
        raise UserError(f"{path}: is a session's own file (the session, its photo or its restored result); "
                        "choose another output name - they are never overwritten") from None
    return path


def _write(img, path: Path, inputs, record: dict, made_up: bool = True) -> Path:
    """Atomic, never over an input, in the format the extension names (PNG when there is none).
    A PNG carries ``record``, so that a name we made up (``made_up``: not given with --out) is
    written again only over our own earlier file, never over one of the user's."""
    from dgp_studio.core.export import read_record, save_result
    path = _checked(path, inputs)
    if made_up and path.exists() and read_record(path) is None:
        raise UserError(f"{path} exists and was not written by DGP Studio: it is kept; choose another name "
                        "(--out / --out-dir)")
    try:
        return save_result(img, path, record=dict(record, status="ok"))
    except ValueError as e:  # not an image type
        raise UserError(str(e)) from None
    except OSError as e:
        from dgp_studio.core.errors import write_error
        raise UserError(write_error(path, e)) from None


def _size(args, count: int, default: int = 0) -> int:
    """--size, or ``default`` when it is not given (0: the model's own pixels), refused up front
    when ``count`` images of that size would not fit in memory."""
    size = default if args.size is None else args.size
    if size < 0:
        raise UserError("--size must be >= 0 (0 = the model's own resolution)")
    if size > MAX_SIZE:
        raise UserError(f"--size {size}: at most {MAX_SIZE} px (the images are enlarged for viewing only)")
    if count * size * size > MAX_PIXELS:
        raise UserError(f"--size {size} for {count} images is {count * size * size / 1e6:.0f} megapixels, more "
                        f"than {MAX_PIXELS // 1_000_000} at once: choose a smaller --size or fewer images")
    return size


def _pils(images, size: int) -> list:
    from dgp_studio.core.imaging import to_pil
    from dgp_studio.core.sheets import enlarge
    return [enlarge(to_pil(t), size) for t in images]


def cmd_jitter(args) -> int:
    from dgp_studio.core import manipulate
    from dgp_studio.core.sheets import grid_sheet
    if not 1 <= args.n <= 256:
        raise UserError("--n must be between 1 and 256")
    from dgp_studio.core.restore import seed_problem
    if not 0 <= args.std <= MAX_JITTER_STD:  # NaN fails this too: it rendered black images without a word
        raise UserError(f"--std must be between 0 (the restored scene itself) and {MAX_JITTER_STD:g}")
    if (problem := seed_problem(args.seed)):
        raise UserError(problem)
    size = _size(args, args.n)
    gan = load_model(args.model, pick_device(args.device))
    protected = []
    res = _load(args.session, gan, protected)
    batch = manipulate.jitter(gan, res, n=args.n, std=args.std, seed=args.seed)
    default = Path(args.session).with_name(Path(args.session).stem + "_jitter.png")
    out = _out(args.out, default)
    record = {"task": "jitter", "session": str(Path(args.session).resolve()), "n": args.n, "std": args.std,
              "seed": args.seed}
    print(_write(grid_sheet(_pils(batch.split(1), size), cols=min(args.n, 4)), out, protected, record,
                 made_up=not args.out or out != Path(args.out)))
    return 0


def cmd_transfer(args) -> int:
    from dgp_studio.core import manipulate
    from dgp_studio.core.classes import class_names, resolve_class
    if not 0 <= args.blend <= 1:
        raise UserError("--blend must be between 0 (--to only) and 1 (--blend-with only)")
    size = _size(args, 1)
    gan = load_model(args.model, pick_device(args.device))
    protected = []
    res = _load(args.session, gan, protected)
    try:
        cid = resolve_class(args.to, gan.config)
        other = resolve_class(args.blend_with, gan.config) if args.blend_with else None
    except ValueError as e:
        raise UserError(str(e)) from None
    if cid is None:
        raise UserError("--to needs a class id or name")
    img = manipulate.transfer(gan, res, cid, blend_with=other, blend=args.blend)
    names = class_names(gan.config)
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in names[cid]) if cid < len(names) else str(cid)
    default = Path(args.session).with_name(f"{Path(args.session).stem}_to_{label}.png")
    out = _out(args.out, default)
    record = {"task": "transfer", "session": str(Path(args.session).resolve()), "to": cid,
              "blend_with": other, "blend": args.blend}
    print(_write(_pils([img], size)[0], out, protected, record,
                 made_up=not args.out or out != Path(args.out)))
    return 0


def cmd_morph(args) -> int:
    from dgp_studio.core import manipulate
    from dgp_studio.core.sheets import VIEW_SIZE, enlarge, frame_path, grid_sheet, write_gif
    if args.out_dir:
        output_folder(args.out_dir, "--out-dir")
    if not 2 <= args.frames <= MAX_FRAMES:
        raise UserError(f"--frames must be between 2 and {MAX_FRAMES}")
    # stills: exact pixels; the GIF: for viewing
    size, gif_size = _size(args, args.frames), _size(args, args.frames, VIEW_SIZE if args.gif else 0)
    gan = load_model(args.model, pick_device(args.device))
    inputs = []
    a, b = _load(args.session_a, gan, inputs), _load(args.session_b, gan, inputs)
    lams = [i / (args.frames - 1) for i in range(args.frames)]
    frames = _pils(manipulate.morph(gan, a, b, lams), size)
    out = Path(args.out_dir or Path(args.session_a).with_name(Path(args.session_a).stem + "_morph"))
    record = {"task": "morph", "sessions": [str(Path(s).resolve()) for s in (args.session_a, args.session_b)],
              "frames": args.frames}
    paths = [_write(f, frame_path(out / "morph", i), inputs, dict(record, frame=i)) for i, f in enumerate(frames)]
    if args.gif:  # with --size the frames already have it, and enlarge() leaves them be
        paths.append(write_gif([enlarge(f, gif_size) for f in frames], _checked(out / "morph.gif", inputs),
                               pingpong=True))
    if args.strip:
        paths.append(_write(grid_sheet(frames, cols=len(frames)), out / "morph_strip.png", inputs, record))
    for p in paths:
        print(p)
    return 0


def _add_size(p, gif: bool = False) -> None:
    from dgp_studio.core.sheets import VIEW_SIZE
    default = (f"the model's own pixels (exact), except the GIF: {VIEW_SIZE} px, as the editor's" if gif
               else "the model's own pixels (exact)")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help=f"enlarge every image to PX (bicubic) for viewing, e.g. 256; default: {default}")


def register(sub) -> None:
    p = sub.add_parser("jitter", help="random variations of a restored scene (from a session file)",
                       description="Render G(z* + std*noise) with the tuned generator of a session: "
                                   "variations of the same scene. No optimisation is run.")
    p.add_argument("session", help="session file written by 'restore --save-session'")
    p.add_argument("--n", type=int, default=8, help="how many samples (default 8)")
    p.add_argument("--std", type=float, default=0.5, help="noise strength, e.g. 0.3 / 0.5 / 0.7")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output image of the grid (default: <session>_jitter.png next to the session; "
                                 "a folder gets that name in it)")
    _add_size(p)
    add_model_args(p)
    p.set_defaults(func=cmd_jitter)

    p = sub.add_parser("transfer", help="same scene and pose, another class (from a session file)",
                       description="Render the tuned generator of a session with another class embedding.")
    p.add_argument("session")
    p.add_argument("--to", required=True, help="class id or name")
    p.add_argument("--blend-with", help="second class to blend with")
    p.add_argument("--blend", type=float, default=0.0, help="0 = --to only, 1 = --blend-with only")
    p.add_argument("--out", help="output image (default: <session>_to_<class>.png next to the session; "
                                 "a folder gets that name in it)")
    _add_size(p)
    add_model_args(p)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("morph", help="morph between two restored photos (two session files)",
                       description="Interpolate z, class embedding and every generator tensor from A to B.")
    p.add_argument("session_a")
    p.add_argument("session_b")
    p.add_argument("--frames", type=int, default=9, help=f"frames including both ends (default 9, at most {MAX_FRAMES})")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF (ping-pong)")
    p.add_argument("--strip", action="store_true",
                   help="also write morph_strip.png: every frame side by side, A on the left, B on the right")
    p.add_argument("--out-dir", help="folder for the frames (default: <session_a>_morph)")
    _add_size(p, gif=True)
    add_model_args(p)
    p.set_defaults(func=cmd_morph)
