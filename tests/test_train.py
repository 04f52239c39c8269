"""`dgp-studio train`: a few steps on a generated class-folder dataset, resume, and the loader reads the result."""
import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dgp_studio.cli.main import main
from dgp_studio.core.checkpoint import load_biggan
from dgp_studio.core.training import ClassFolderDataset, TrainConfig, Trainer
from dgp_studio.core.training.augment import cutout, translation
from dgp_studio.core.training.ema import standing_stats

CLASSES = ["apples", "bricks", "sky"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """3 class folders of small synthetic photos (different sizes and formats), plus an ignored extras folder."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    base = {"apples": (200, 40, 40), "bricks": (150, 90, 60), "sky": (80, 140, 230)}
    for name in CLASSES:
        (root / name).mkdir()
        for i, (w, h) in enumerate([(70, 50), (48, 64), (90, 90)]):
            a = np.clip(np.array(base[name]) + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / name / f"p{i}.{'jpg' if i == 1 else 'png'}")
    (root / "_extras").mkdir()
    Image.new("RGBA", (40, 40)).save(root / "_extras" / "stamp.png")
    (root / "sky" / "notes.txt").write_text("not an image")
    return root


def tiny_train_config(data_dir, out, steps, **kw):
    return TrainConfig(data_dir=str(data_dir), out_dir=str(out), resolution=32, G_ch=8, D_ch=8, dim_z=20,
                       shared_dim=8, G_attn=(16,), D_attn=(16,), steps=steps, batch_size=4, D_steps=2,
                       G_lr=2e-4, D_lr=2e-4, sample_every=2, checkpoint_every=0, log_every=1,
                       samples_per_class=2, standing_batches=3, **kw)


def test_dataset_classes_and_crops(data_dir):
    ds = ClassFolderDataset(data_dir, 32, min_scale=0.5)
    assert ds.class_names == CLASSES and len(ds) == 9          # _extras and notes.txt ignored
    assert ds.class_counts() == {c: 3 for c in CLASSES}
    x, y = ds.sample(12, torch.Generator().manual_seed(0))
    assert x.shape == (12, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    # class colours survive the crops: the sky class is the bluest on average
    blue_minus_red = [(x[y == c, 2] - x[y == c, 0]).mean().item() for c in range(3) if (y == c).any()]
    assert max(blue_minus_red) == blue_minus_red[-1] and blue_minus_red[-1] > 0.5


def test_unreadable_photos_are_skipped_and_named(data_dir, tmp_path):
    bad = tmp_path / "photos"
    for c in CLASSES:
        (bad / c).mkdir(parents=True)
        for f in (data_dir / c).glob("p*"):
            (bad / c / f.name).write_bytes(f.read_bytes())
    (bad / "sky" / "broken.jpg").write_bytes((data_dir / "sky" / "p1.jpg").read_bytes()[:200])
    (bad / "apples" / "empty.png").write_bytes(b"")
    ds = ClassFolderDataset(bad, 32, min_scale=0.5)
    assert len(ds) == 9 and sorted(s.split(":")[0] for s in ds.skipped) == ["apples/empty.png", "sky/broken.jpg"]
    lines = []
    Trainer(tiny_train_config(bad, tmp_path / "run", 1), log=lines.append)
    assert any("skipped 2 unreadable" in x for x in lines)
    assert any(x.strip().startswith("skipped sky/broken.jpg") for x in lines)


def test_training_photos_are_read_as_restore_reads_them(tmp_path):
    # one gray picture as 8-bit, 16-bit and float files (16-bit was clipped to white, float to
    # black), and a transparent one over white; each class holds one of them
    rng = np.random.default_rng(5)
    gray8 = rng.integers(20, 235, (32, 32), dtype=np.uint8)  # the kept size: no resampling
    root = tmp_path / "d"
    for name in ("a8", "b16", "cfloat", "dalpha"):
        (root / name).mkdir(parents=True)
    Image.fromarray(gray8).save(root / "a8" / "x.png")
    Image.fromarray(gray8.astype(np.uint16) * 257).save(root / "b16" / "x.png")
    Image.fromarray(gray8.astype(np.float32) / 255).save(root / "cfloat" / "x.tif")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 40, 0
    rgba[:, :16, 3] = 255                               # left half opaque dark, right half transparent
    Image.fromarray(rgba).save(root / "dalpha" / "x.png")
    ds = ClassFolderDataset(root, 32, min_scale=1.0)
    assert not ds.skipped and ds.class_names == ["a8", "b16", "cfloat", "dalpha"]
    ref = ds.images[0].float()
    assert torch.equal(ds.images[1].float(), ref)
    assert (ds.images[2].float() - ref).abs().max() <= 1
    alpha = ds.images[3]
    assert (alpha[:, :, :16] == 40).all() and (alpha[:, :, 16:] == 255).all()


def test_translation_and_cutout_are_exact():
    x = torch.arange(1, 65.0).view(1, 1, 8, 8).repeat(20, 2, 1, 1)
    gen = torch.Generator().manual_seed(3)
    t = translation(x, gen, ratio=0.25)
    for i in range(20):  # each output is the input shifted by whole pixels with zero fill
        ok = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros(8, 8)
                ys, xs = slice(max(0, dy), 8 + min(0, dy)), slice(max(0, dx), 8 + min(0, dx))
                ys0, xs0 = slice(max(0, -dy), 8 + min(0, -dy)), slice(max(0, -dx), 8 + min(0, -dx))
                ref[ys, xs] = x[i, 0][ys0, xs0]
                ok |= torch.equal(t[i, 0], ref) and torch.equal(t[i, 1], ref)
        assert ok
    c = cutout(torch.ones(50, 3, 8, 8), gen, ratio=0.5)
    zeros = (c[:, 0] == 0).sum(dim=(1, 2))
    assert zeros.max() == 16 and zeros.min() >= 4          # a 4x4 square, clipped at the border
    assert torch.equal(c[:, 0], c[:, 2])


def test_resume_continues_exactly_and_loader_reads_model(data_dir, tmp_path):
    straight = Trainer(tiny_train_config(data_dir, tmp_path / "a", steps=3), log=None)
    straight.train()

    first = Trainer(tiny_train_config(data_dir, tmp_path / "b", steps=2), log=None)
    first.train()
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2
    with pytest.raises(FileExistsError):
        Trainer(tiny_train_config(data_dir, tmp_path / "b", steps=3), log=None)
    resumed = Trainer(tiny_train_config(data_dir, tmp_path / "b", steps=3), resume=True, log=None)
    assert resumed.step == 2
    assert all(torch.equal(v, ck["G"][k]) for k, v in resumed.G.state_dict().items())
    resumed.train()
    assert resumed.step == 3
    # 2 + 1 steps around a restart give bit-for-bit the weights of 3 uninterrupted steps
    for a, b in ((straight.G, resumed.G), (straight.D, resumed.D), (straight.ema.model, resumed.ema.model)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(ck["G"]["linear.weight"], resumed.G.state_dict()["linear.weight"])

    out = tmp_path / "b"
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(np.isfinite(float(r["G_loss"])) for r in rows)
    assert (out / "samples" / "step_000002.png").exists() and (out / "samples" / "step_000003.png").exists()

    gan = load_biggan(out / "model")
    assert gan.config.class_names == CLASSES and gan.config.resolution == 32
    assert gan.D is not None
    ema = resumed.ema.model.state_dict()
    sd = gan.G.state_dict()
    assert torch.equal(sd["linear.weight"], ema["linear.weight"])
    card = json.loads((out / "model" / "card.json").read_text())
    assert card["steps"] == 3 and card["class_names"] == CLASSES
    grid = Image.open(out / "model" / "samples.png")
    assert grid.height >= 3 * 32                                # a row per class
    # exported BN statistics are the generator's own: the first BN sees linear(z chunk 0)
    with torch.no_grad():
        z = torch.randn(2048, gan.config.dim_z)
        h = gan.G.linear(z[:, :gan.config.z_chunk]).view(2048, -1, 4, 4)
    bn = gan.G.blocks[0][0].bn1
    assert torch.allclose(bn.stored_mean, h.mean(dim=(0, 2, 3)), atol=0.15 * h.std().item())
    assert torch.allclose(bn.stored_var, h.var(dim=(0, 2, 3)), rtol=0.3)
    x = gan.sample(1, n=2, seed=0)
    assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all()


def test_standing_stats_make_eval_match_train():
    from dgp_studio.core.biggan import BigGANConfig, build_biggan
    G = build_biggan(BigGANConfig(resolution=32, G_ch=8, D_ch=8, dim_z=20, shared_dim=8, n_classes=3,
                                  G_attn=(), D_attn=()), seed=1, with_D=False).G
    z, y = torch.randn(64, 20), torch.randint(0, 3, (64,))
    with torch.no_grad():
        G.train()
        ref = G(z, G.shared(y))
        G.eval()
        before = (G(z, G.shared(y)) - ref).abs().mean()
        standing_stats(G, 3, 20, batches=4, batch_size=32)
        after = (G(z, G.shared(y)) - ref).abs().mean()
    assert after < 0.5 * before


def test_cli_train_and_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(data_dir), "--out", str(out), "--resolution", "64", "--ch", "4", "--attn", "none",
            "--dim-z", "10", "--shared-dim", "4", "--batch-size", "2", "--quiet", "--device", "cpu",
            "--export-dtype", "float16", "--samples-per-class", "1", "--standing-batches", "2", "--D-steps", "1"]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "2"]) == 2                   # refuses to overwrite without --resume
    assert main(args + ["--steps", "3", "--resume", "--precision", "fp32"]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 3 and ck["config"]["precision"] == "fp32"
    assert torch.load(out / "model" / "G_ema.pth", weights_only=True)["linear.weight"].dtype == torch.float16
    gan = load_biggan(out / "model")
    assert gan.config.resolution == 64 and gan.config.class_names == CLASSES
    assert main(["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    for bad in (["--ema-decay", "2"], ["--G-lr", "-1"], ["--ch", "0"], ["--min-scale", "0"], ["--threads", "0"]):
        assert main(["train", str(data_dir), "--out", str(tmp_path / "bad"), "-q", "--attn", "none", *bad]) == 2, bad
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    # a folder that already holds a 'model' or a log of someone else's: a new run would write over them
    other = tmp_path / "busy"
    (other / "model").mkdir(parents=True)
    (other / "model" / "README.md").write_text("mine")
    (other / "train_log.csv").write_text("mine")
    assert main(["train", str(data_dir), "--out", str(other), "-q", "--attn", "none", "--steps", "1"]) == 2
    assert (other / "model" / "README.md").read_text() == "mine" and (other / "train_log.csv").read_text() == "mine"
    assert sorted(p.name for p in other.iterdir()) == ["model", "train_log.csv"]


def test_a_damaged_checkpoint_is_one_line_and_kept(data_dir, tmp_path, capsys):
    """--resume from a cut-short, junk or edited checkpoint.pt ended in a KeyError/TypeError
    traceback; it is now one line naming the file, and the file stays as it was."""
    out = tmp_path / "run"
    args = ["train", str(data_dir), "--out", str(out), "--resolution", "64", "--ch", "4", "--attn", "none",
            "--dim-z", "10", "--shared-dim", "4", "--batch-size", "2", "--quiet", "--device", "cpu",
            "--samples-per-class", "1", "--standing-batches", "2", "--D-steps", "1"]
    assert main(args + ["--steps", "1"]) == 0
    capsys.readouterr()
    ck_path = out / "checkpoint.pt"
    good = ck_path.read_bytes()
    ck = torch.load(ck_path, weights_only=True)
    damaged = {
        "junk": b"hello",
        "cut": good[: len(good) // 2],
        "list": [1, 2],
        "no_G": {k: v for k, v in ck.items() if k != "G"},
        "settings": dict(ck, config="x"),
        "step": dict(ck, step="abc"),
        "rng": dict(ck, data_gen=torch.zeros(3)),
    }
    expect = {"junk": "cannot be read", "cut": "cannot be read", "list": "not a DGP Studio training checkpoint",
              "no_G": "no 'G'", "settings": "damaged training checkpoint", "step": "damaged training checkpoint",
              "rng": "damaged training checkpoint"}
    for name, content in damaged.items():
        if isinstance(content, bytes):
            ck_path.write_bytes(content)
        else:
            torch.save(content, ck_path)
        before = ck_path.read_bytes()
        assert main(args + ["--steps", "2", "--resume"]) == 2, name
        full = capsys.readouterr().err
        err = full.strip().splitlines()[-1]
        assert "Traceback" not in full and err.startswith("dgp-studio: error: ") and str(ck_path) in err, full
        assert expect[name] in err, err
        assert ck_path.read_bytes() == before
