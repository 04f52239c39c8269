"""Loading and saving BigGAN checkpoints.

Accepted: a folder of released checkpoints (``G_ema_<suffix>.pth`` or
``G_<suffix>.pth`` + ``D_<suffix>.pth``), explicit file paths, or our own folder
format (``config.json`` + ``G_ema.pth``/``D.pth`` or ``.safetensors``).
The architecture is read off the tensor shapes.  Only ``weights_only=True``.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import torch

from .biggan import D_ARCH, G_ARCH, BigGAN, BigGANConfig, Discriminator, Generator, BOTTOM
from .fsutil import atomic_target
from .tensorfile import TensorFileError, load_tensors, save_tensors

OPTIONAL_KEYS = re.compile(r"^blocks\.\d+\.0\.in[12]\.(weight|bias)$")  # DGP's IN: absent in plain BigGAN


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""


def require_discriminator(gan) -> None:
    """DGP's loss is measured by the GAN's discriminator: restoring (and evaluating) needs it.
    Manipulating a saved session (jitter, transfer, morph) does not."""
    if gan.D is None:
        raise CheckpointError(f"{gan.source or gan.name}: this model has no discriminator (D_<suffix>.pth or D.pth beside the "
                              "generator's file), which restoring a photo needs")


def read_state_dict(path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: file not found")
    if path.suffix == ".safetensors":
        try:
            return load_tensors(path)[0]
        except TensorFileError as e:
            raise CheckpointError(str(e)) from None
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not head:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, or truncated (empty file)")
    if head != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip; old files are a pickle (protocol byte)
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (.pth/.pt) or .safetensors file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e).lower():
            raise CheckpointError(
                f"{path}: refused - the file holds Python objects besides tensors, which could run "
                "code when loaded; only plain state dicts are accepted") from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (unpickling failed)") from None
    except Exception as e:  # torch.load raises many types on junk input; all mean 'unreadable'
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if path.stat().st_size == 0:
            first = "empty file"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, or truncated ({first})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return obj


def _block_ids(sd, net_prefix="blocks."):
    ids = set()
    for k in sd:
        m = re.match(r"^blocks\.(\d+)\.", k)
        if m:
            ids.add(int(m.group(1)))
    return sorted(ids)


def _need(sd, key, path):
    if key not in sd:
        raise CheckpointError(f"{path}: missing key '{key}' - not a BigGAN generator/discriminator")
    return sd[key]


def infer_config(G_sd, D_sd=None, g_path="G", d_path="D") -> BigGANConfig:
    """Architecture from tensor shapes (resolution, widths, attention, z split, classes)."""
    # the keys every BigGAN generator has, first: a foreign file should be named as such
    shared = _need(G_sd, "shared.weight", g_path)
    lin = _need(G_sd, "linear.weight", g_path)
    out_w = _need(G_sd, "output_layer.2.weight", g_path)
    n_blocks = len(_block_ids(G_sd))
    res = BOTTOM * 2 ** n_blocks
    if res not in G_ARCH:
        raise CheckpointError(f"{g_path}: {n_blocks} generator blocks means {res} px, which is not supported")
    ins, outs = G_ARCH[res]
    ch, rem = divmod(lin.shape[0], ins[0] * BOTTOM * BOTTOM)
    if rem or ch * outs[-1] != out_w.shape[1]:
        raise CheckpointError(f"{g_path}: 'linear.weight' {tuple(lin.shape)} and 'output_layer.2.weight' "
                              f"{tuple(out_w.shape)} do not fit a {res} px BigGAN")
    z_chunk = lin.shape[1]
    g_attn = tuple(BOTTOM * 2 ** (i + 1) for i in range(n_blocks) if f"blocks.{i}.1.gamma" in G_sd)
    cfg = dict(resolution=res, G_ch=ch, D_ch=ch, dim_z=z_chunk * (n_blocks + 1),
               shared_dim=shared.shape[1], n_classes=shared.shape[0], G_attn=g_attn, D_attn=g_attn)
    if D_sd is not None:
        nd = len(_block_ids(D_sd))
        d_res = {len(v[1]): r for r, v in D_ARCH.items()}.get(nd)
        if d_res != res:
            raise CheckpointError(f"{d_path}: {nd} discriminator blocks do not match the {res} px generator")
        d_outs, down = D_ARCH[res][1], D_ARCH[res][2]
        w0 = _need(D_sd, "blocks.0.0.conv1.weight", d_path)
        cfg["D_ch"] = w0.shape[0] // d_outs[0]
        emb = _need(D_sd, "embed.weight", d_path)
        if emb.shape[0] != cfg["n_classes"]:
            raise CheckpointError(f"{d_path}: discriminator has {emb.shape[0]} classes, generator "
                                  f"{cfg['n_classes']}")
        d_attn, r = [], res
        for i, d in enumerate(down):
            r = r // 2 if d else r
            if f"blocks.{i}.1.gamma" in D_sd:
                d_attn.append(r)
        cfg["D_attn"] = tuple(d_attn)
    return BigGANConfig(**cfg)


def load_into(module: torch.nn.Module, sd: dict, path) -> None:
    """Strict load with a one-line error naming the first bad key."""
    own = module.state_dict()
    for k, v in own.items():
        if k not in sd and not OPTIONAL_KEYS.match(k):
            raise CheckpointError(f"{path}: missing key '{k}' (expected shape {tuple(v.shape)})")
    for k, v in sd.items():
        if k not in own:
            raise CheckpointError(f"{path}: unexpected key '{k}' - architecture mismatch")
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{path}: key '{k}' has shape {tuple(v.shape)}, expected "
                                  f"{tuple(own[k].shape)}")
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))


def _find_pair(folder: Path):
    """Released layout: G_ema_<suffix>.pth preferred over G_<suffix>.pth, D with the same suffix."""
    files = {p.name: p for p in folder.iterdir() if p.is_file()}
    for pattern in (r"^G_ema(_(.+))?\.(pth|safetensors)$", r"^G(_(.+))?\.(pth|safetensors)$"):
        for name in sorted(files):
            m = re.match(pattern, name)
            if m and not name.startswith("G_optim"):
                suffix = m.group(1) or ""
                d = next((files[n] for n in (f"D{suffix}.pth", f"D{suffix}.safetensors") if n in files), None)
                return files[name], d
    raise CheckpointError(f"{folder}: no generator checkpoint found (expected G_ema_<suffix>.pth or "
                          "G_<suffix>.pth, plus D_<suffix>.pth)")


def load_biggan(path=None, device="cpu", d_path=None, with_D: bool = True) -> BigGAN:
    """Load a BigGAN from a folder or explicit file(s); ``path=None`` loads the bundled prior."""
    if path is None:
        from .models import default_model_path
        path = default_model_path()
    path = Path(path)
    config_extra = {}
    if path.is_dir():
        cfg_file = path / "config.json"
        if cfg_file.exists():
            try:
                config_extra = json.loads(cfg_file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{cfg_file}: not valid JSON ({e})") from None
            if not isinstance(config_extra, dict):
                raise CheckpointError(f"{cfg_file}: not a model description (a JSON object is expected)")
        g_path, found_d = _find_pair(path)
        d_path = d_path or found_d
    elif path.exists():
        g_path = path
        if d_path is None:
            m = re.match(r"^G(_ema)?(_.+)?\.(pth|safetensors)$", path.name)
            if m:
                cand = path.parent / f"D{m.group(2) or ''}.{m.group(3)}"
                d_path = cand if cand.exists() else None
    else:
        raise CheckpointError(f"{path}: no such file or folder")
    G_sd = read_state_dict(g_path)
    D_sd = read_state_dict(d_path) if (with_D and d_path) else None
    cfg = infer_config(G_sd, D_sd, g_path, d_path)
    names = config_extra.get("class_names")
    # the architecture comes from the tensors; config.json only names things (and is ignored where odd)
    if isinstance(names, list) and len(names) == cfg.n_classes and all(isinstance(n, str) and n.strip()
                                                                       for n in names):
        cfg.class_names = [n.strip() for n in names]
    with torch.device("meta"):
        G = Generator(cfg)
        D = Discriminator(cfg) if D_sd is not None else None
    G = G.to_empty(device="cpu")
    load_into(G, G_sd, g_path)
    _reset_missing_in(G, G_sd)
    if D is not None:
        D = D.to_empty(device="cpu")
        load_into(D, D_sd, d_path)
    G.eval()
    if D is not None:
        D.eval()
        D.requires_grad_(False)
    name = _plain_name(config_extra.get("name")) or (path.name if path.is_dir() else path.stem)
    gan = BigGAN(G, D, cfg, name=name, source=str(path))
    return gan.to(device)


def _plain_name(name) -> str | None:
    """config.json's model name, usable in file names (eval's default folder is 'eval-<name>'):
    no path separators or control characters, at most 80 characters."""
    if not isinstance(name, str):
        return None
    safe = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in name.strip())[:80]
    return safe.strip(" .") or None


def _reset_missing_in(G, sd) -> None:
    with torch.no_grad():
        for k, t in G.state_dict().items():
            if OPTIONAL_KEYS.match(k) and k not in sd:
                t.fill_(1.0 if k.endswith("weight") else 0.0)


def atomic_torch_save(obj, path: Path) -> None:
    """torch.save to a temp file in the same folder, then os.replace: never a partial file."""
    with atomic_target(path) as tmp:
        torch.save(obj, tmp)


def save_biggan(gan: BigGAN, folder, dtype=torch.float32, fmt: str = "pth", extra: dict | None = None) -> Path:
    """Our format: config.json + G_ema + D (``fmt`` 'pth' or 'safetensors'), written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def cast(sd):
        return {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
                for k, v in sd.items()}

    nets = [("G_ema", gan.G)] + ([("D", gan.D)] if gan.D is not None else [])
    for name, net in nets:
        sd = cast(net.state_dict())
        if fmt == "safetensors":
            save_tensors(sd, folder / f"{name}.safetensors")
        else:
            atomic_torch_save(sd, folder / f"{name}.pth")
    cfg = {"format": "dgp-studio-model", "format_version": 1, "name": gan.name,
           **gan.config.to_dict(), **(extra or {})}
    tmp = folder / ".config.json.tmp"
    tmp.write_text(json.dumps(cfg, indent=2))
    os.replace(tmp, folder / "config.json")
    return folder
