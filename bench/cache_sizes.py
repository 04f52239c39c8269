"""Bytes per cached result (docs/CACHE.md): computed from shapes, and measured on disk.

    python bench/cache_sizes.py                 # shapes only (meta device), a few seconds
    python bench/cache_sizes.py --measure       # also writes real entries: tiny model (a real run)
                                                # and BigGAN-256 ch96 (random weights, ~165 MB, temp dir)

Shapes come from building each architecture on the meta device; where the JSON manifests of the
released checkpoints are found (``../shared/reference``), every key and shape is checked against
them first.  The tuned tensors are the ones ``cache.tuned_tensor_names`` predicts for the preset
(the test suite checks that prediction against real runs).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dgp_studio.core import presets  # noqa: E402
from dgp_studio.core.biggan import BigGANConfig, build_biggan  # noqa: E402
from dgp_studio.core.cache import CachedResult, estimate_entry_bytes, tuned_tensor_names  # noqa: E402

RELEASED = {
    "BigGAN-128 ch96": ("biggan128_ch96_G.json", BigGANConfig(128, 96, 96, 120, 128, 1000, (64,), (64,))),
    "BigGAN-256 ch96": ("biggan256_ch96_G.json", BigGANConfig(256, 96, 96, 120, 128, 1000, (64,), (64,))),
    "BigGAN-256 ch64": ("biggan256_ch64_G.json", BigGANConfig(256, 64, 64, 120, 128, 1000, (64,), (64,))),
}
PRESETS = ("colorization", "inpainting", "super-resolution", "reconstruct", "morphing")


def check_manifest(cfg: BigGANConfig, manifest: Path) -> str:
    if not manifest.exists():
        return "manifest not found"
    man = {k: tuple(s) for k, s, _ in json.loads(manifest.read_text())["keys"]}
    own = {k: tuple(v.shape) for k, v in build_biggan(cfg, with_D=False, meta=True).G.state_dict().items()}
    if man != own:
        bad = sorted(set(man.items()) ^ set(own.items()))[:3]
        raise SystemExit(f"{manifest.name}: shapes differ from our architecture: {bad}")
    return f"{len(man)} keys match {manifest.name}"


def bundled_config():
    cfg_file = ROOT / "models" / "dgp-prior-64" / "config.json"
    if cfg_file.exists():
        d = json.loads(cfg_file.read_text())
        fields = {f.name for f in dataclasses.fields(BigGANConfig)}
        return "bundled prior (models/dgp-prior-64)", BigGANConfig(**{k: v for k, v in d.items() if k in fields})
    # not shipped yet: the training defaults (dgp_studio/core/training/config.py), 5 classes
    return ("bundled prior, expected (64 px training defaults; models/dgp-prior-64 not present)",
            BigGANConfig(64, 32, 32, 120, 128, 5, (32,), (32,)))


def mb(n):
    return f"{n / 1e6:,.2f} MB"


def shape_table(manifests: Path) -> list[str]:
    rows = ["| model | preset | tuned tensors | tuned params | delta (fp16) | images (uint8) | entry total | "
            "full fp32 G state | entry / full |", "|---|---|---|---|---|---|---|---|---|"]
    models = [(name, cfg, manifests / f) for name, (f, cfg) in RELEASED.items()]
    bname, bcfg = bundled_config()
    models.insert(0, (bname, bcfg, None))
    notes = []
    for name, cfg, manifest in models:
        if manifest is not None:
            notes.append(f"- {name}: {check_manifest(cfg, manifest)}")
        for pname in PRESETS:
            e = estimate_entry_bytes(cfg, presets.get(pname))
            rows.append(f"| {name} | {pname} | {e['tuned_tensors']} | {e['tuned_params']:,} | {mb(e['delta_bytes'])} "
                        f"| {mb(e['image_bytes'])} | {mb(e['total_bytes'])} | {mb(e['full_fp32_state_bytes'])} "
                        f"| {100 * e['ratio']:.2f} % |")
    return rows + [""] + notes


def measure_tiny(tmp: Path) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from cache_fixtures import real_result, tiny_gan
    from dgp_studio.core import degradations
    gan = tiny_gan(0)
    p = dataclasses.replace(presets.get("colorization").scaled(0.05), select_num=20)
    res = real_result(gan, p, degradation=degradations.Colorization())
    e = CachedResult.from_result(res, gan, key="0" * 64)
    jp, tp = e.write(tmp, "tiny")
    full = sum(t.numel() * 4 for t in gan.G.state_dict().values())
    size = jp.stat().st_size + tp.stat().st_size
    return (f"tiny 32 px model (G_ch 8), colorization, {res.steps_done} steps: entry on disk {size:,} bytes "
            f"(JSON {jp.stat().st_size:,} + tensors {tp.stat().st_size:,}); full fp32 G state {full:,} bytes "
            f"({100 * size / full:.1f} %; at this size the four 32x32 images weigh as much as the weights)")


def measure_256(tmp: Path) -> str:
    """A real entry for BigGAN-256 ch96 with the colorization preset's groups changed."""
    from dgp_studio.core.reconstructor import ReconstructionResult
    cfg = RELEASED["BigGAN-256 ch96"][1]
    gan = build_biggan(cfg, with_D=False, meta=True)
    gan.G = gan.G.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in gan.G.state_dict().values():
            t.copy_(torch.randn(t.shape, generator=g) * 0.02)
    p = presets.get("colorization").clipped(gan.G.n_groups, 9)
    state = {k: v.clone() for k, v in gan.G.state_dict().items()}
    for n in tuned_tensor_names(gan.G, p):
        state[n] += torch.randn(state[n].shape, generator=g) * 1e-4
    img = torch.rand(1, 3, 256, 256, generator=g) * 2 - 1
    obs = (torch.randint(0, 256, (1, 3, 256, 256), generator=g).float() / 127.5 - 1)
    hist = [{"stage": 0, "iteration": i, "total": 1.0, "ftr": 1.0, "mse": 0.0, "nll": 0.1}
            for i in range(p.total_iterations)]
    gray = obs.mean(1, keepdim=True).expand(-1, 3, -1, -1)      # colorization's target is gray
    res = ReconstructionResult(image=img, final=img * 0.9, z=torch.randn(1, 119), class_id=3,
                               class_embedding=torch.randn(1, 128), generator_state=state, target=gray,
                               observed=obs, preset=p, task="colorization", seed=0, history=hist)
    t0 = time.perf_counter()
    e = CachedResult.from_result(res, gan, key="0" * 64)
    t1 = time.perf_counter()
    jp, tp = e.write(tmp, "b256")
    t2 = time.perf_counter()
    back = CachedResult.read(jp)
    t3 = time.perf_counter()
    back.to_result(gan)
    t4 = time.perf_counter()
    full = sum(t.numel() * 4 for t in gan.G.state_dict().values())
    size = jp.stat().st_size + tp.stat().st_size
    return (f"BigGAN-256 ch96 (random weights, colour input photo), colorization groups changed: "
            f"entry on disk {size:,} bytes "
            f"({mb(size)}; JSON {jp.stat().st_size:,} bytes) vs full fp32 G state {full:,} bytes ({mb(full)}) "
            f"= {100 * size / full:.2f} %.  CPU times here (2 shared cores): encode {t1 - t0:.1f} s, "
            f"write+hash {t2 - t1:.1f} s, read+verify {t3 - t2:.1f} s, rebuild state {t4 - t3:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifests", type=Path, default=ROOT.parent / "shared" / "reference")
    ap.add_argument("--measure", action="store_true")
    args = ap.parse_args()
    print("\n".join(shape_table(args.manifests)))
    if args.measure:
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as tmp:
            print()
            print("- measured:", measure_tiny(Path(tmp)))
            print("- measured:", measure_256(Path(tmp)))


if __name__ == "__main__":
    main()
