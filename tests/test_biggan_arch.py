"""The networks match the released checkpoints key for key, and the loader reads them back exactly."""
import json
from pathlib import Path

import pytest
import torch

from dgp_studio.core.biggan import BigGANConfig, build_biggan
from dgp_studio.core.checkpoint import CheckpointError, infer_config, load_biggan, save_biggan

from conftest import tiny_config

REF = Path(__file__).resolve().parents[2] / "shared" / "reference"
if not REF.exists():
    REF = Path("/work/shared/reference")
MANIFESTS = [("biggan128_ch96", 128, 96), ("biggan256_ch96", 256, 96), ("biggan256_ch64", 256, 64)]


def manifest(name, net):
    return json.loads((REF / f"{name}_{net}.json").read_text())


@pytest.mark.parametrize("name,res,ch", MANIFESTS)
def test_state_dict_matches_manifest(name, res, ch):
    gan = build_biggan(BigGANConfig(resolution=res, G_ch=ch, D_ch=ch), meta=True)
    for net, module in (("G", gan.G), ("D", gan.D)):
        m = manifest(name, net)
        ours = [(k, list(v.shape)) for k, v in module.state_dict().items()]
        ref = [(k, s) for k, s, _ in m["keys"]]
        assert ours == ref  # same keys, same order, same shapes
        assert sum(p.numel() for p in module.parameters()) == m["num_params"]


@pytest.mark.parametrize("name,res,ch", MANIFESTS)
def test_architecture_inferred_from_shapes(name, res, ch):
    shapes = {}
    for net in ("G", "D"):
        shapes[net] = {k: torch.empty(s, device="meta") for k, s, _ in manifest(name, net)["keys"]}
    cfg = infer_config(shapes["G"], shapes["D"])
    c = manifest(name, "G")["config"]
    assert (cfg.resolution, cfg.G_ch, cfg.D_ch, cfg.n_classes, cfg.shared_dim) == (res, ch, ch, 1000, 128)
    assert cfg.dim_z == (119 if res == 256 else 120)
    assert cfg.G_attn == (int(c["G_attn"]),) and cfg.D_attn == (int(c["D_attn"]),)


@pytest.mark.parametrize("res", [32, 64, 128])
def test_small_resolutions_infer_and_run(tmp_path, res):
    cfg = BigGANConfig(resolution=res, G_ch=4, D_ch=8, dim_z=20, shared_dim=8, n_classes=3,
                       G_attn=(res // 2,), D_attn=(res // 2,))
    gan = build_biggan(cfg, seed=1)
    save_biggan(gan, tmp_path)
    back = load_biggan(tmp_path)
    assert back.config == cfg
    x = gan.sample(1, n=2, seed=3)
    assert x.shape == (2, 3, res, res)
    logit, feats = gan.D(x)
    assert logit.shape == (2, 1) and len(feats) == gan.D.n_features


def test_512_builds_on_meta():
    gan = build_biggan(BigGANConfig(resolution=512, G_ch=96, D_ch=96), meta=True)
    assert gan.G.n_groups == 8 and gan.D.n_features == 10  # 8 blocks + attention + pooled


@pytest.mark.parametrize("fmt,dtype", [("pth", torch.float32), ("safetensors", torch.float32)])
def test_save_reload_bit_exact(tmp_path, fmt, dtype):
    gan = build_biggan(tiny_config(), seed=0)
    save_biggan(gan, tmp_path, dtype=dtype, fmt=fmt)
    back = load_biggan(tmp_path)
    z = torch.randn(3, gan.config.dim_z)
    y = torch.tensor([0, 2, 4])
    with torch.no_grad():
        a, b = gan.G(z, gan.G.shared(y)), back.G(z, back.G.shared(y))
        assert torch.equal(a, b)
        assert all(torch.equal(u, v) for u, v in zip(gan.D(a)[1], back.D(a)[1]))


def test_released_layout_and_explicit_paths(tmp_path):
    gan = build_biggan(tiny_config(), seed=2)
    sd_g = {k: v for k, v in gan.G.state_dict().items() if ".in1." not in k and ".in2." not in k}
    torch.save(sd_g, tmp_path / "G_ema_32.pth")  # plain BigGAN checkpoints lack the IN keys
    torch.save(gan.G.state_dict(), tmp_path / "G_32.pth")
    torch.save(gan.D.state_dict(), tmp_path / "D_32.pth")
    back = load_biggan(tmp_path)
    assert back.D is not None and Path(back.source) == tmp_path
    z = torch.randn(1, gan.config.dim_z)
    y = torch.tensor([1])
    assert torch.equal(gan.G(z, gan.G.shared(y)), back.G(z, back.G.shared(y)))
    back2 = load_biggan(tmp_path / "G_32.pth")  # explicit file: D found by suffix
    assert back2.D is not None


def test_wrong_shape_names_file_and_key(tmp_path):
    gan = build_biggan(tiny_config(), seed=0)
    sd = gan.G.state_dict()
    sd["blocks.1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(sd, tmp_path / "G_ema_x.pth")
    torch.save(gan.D.state_dict(), tmp_path / "D_x.pth")
    with pytest.raises(CheckpointError) as e:
        load_biggan(tmp_path)
    msg = str(e.value)
    assert "G_ema_x.pth" in msg and "blocks.1.0.conv1.weight" in msg and "\n" not in msg


def test_missing_and_unexpected_keys(tmp_path):
    gan = build_biggan(tiny_config(), seed=0)
    sd = gan.G.state_dict()
    del sd["blocks.0.0.bn1.stored_var"]
    torch.save(sd, tmp_path / "G.pth")
    with pytest.raises(CheckpointError, match="missing key 'blocks.0.0.bn1.stored_var'"):
        load_biggan(tmp_path / "G.pth")
    sd = gan.G.state_dict()
    sd["blocks.0.0.extra"] = torch.zeros(1)
    torch.save(sd, tmp_path / "G.pth")
    with pytest.raises(CheckpointError, match="unexpected key 'blocks.0.0.extra'"):
        load_biggan(tmp_path / "G.pth")


def test_non_checkpoint_and_truncated_files(tmp_path):
    junk = tmp_path / "G_ema_junk.pth"
    junk.write_text("this is a text file, not a checkpoint")
    with pytest.raises(CheckpointError) as e:
        load_biggan(junk)
    assert "G_ema_junk.pth" in str(e.value) and "\n" not in str(e.value)
    gan = build_biggan(tiny_config(), seed=0)
    good = tmp_path / "G_ema_t.pth"
    torch.save(gan.G.state_dict(), good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_biggan(good)
    with pytest.raises(CheckpointError, match="no such file"):
        load_biggan(tmp_path / "nothing_here")


def test_pickled_objects_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "G_ema_evil.pth"
    torch.save({"shared.weight": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_biggan(path)
    assert not marker.exists()


def test_instance_norm_switch_keeps_output():
    gan = build_biggan(tiny_config(), seed=0)
    z = torch.randn(1, gan.config.dim_z)
    c = gan.G.shared(torch.tensor([3]))
    with torch.no_grad():
        before = gan.G(z, c)
        gan.G.switch_to_instance_norm(z, c, blocks=[0, 1, 2])
        after = gan.G(z, c)
    assert all(b[0].use_in for b in gan.G.blocks)
    assert (before - after).abs().max() < 1e-4
    assert not torch.equal(gan.G.blocks[0][0].in1.weight, torch.ones_like(gan.G.blocks[0][0].in1.weight))


def test_attention_too_narrow_is_a_clear_error():
    """Attention's query/key get ch // 8 channels: below 8 they would be empty and attend uniformly."""
    with pytest.raises(ValueError, match="at least 8 channels"):
        build_biggan(BigGANConfig(resolution=64, G_ch=4, D_ch=4, dim_z=20, shared_dim=8, n_classes=3,
                                  G_attn=(32,), D_attn=(32,)), seed=0)
    build_biggan(BigGANConfig(resolution=64, G_ch=4, D_ch=4, dim_z=20, shared_dim=8, n_classes=3,
                              G_attn=(), D_attn=()), seed=0)   # no attention: any width
