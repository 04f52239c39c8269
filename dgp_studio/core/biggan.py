"""BigGAN generator and discriminator (hierarchical z, shared class embedding).

Architecture tables give channel multipliers per block for each resolution;
``G_ch``/``D_ch`` scale them.  Key names and shapes match the released DGP
checkpoints (``shared/reference/*.json``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import Attention, DBlock, GBlock, PlainBN
from .spectral import SNConv2d, SNEmbedding, SNLinear, sn_layers

# resolution -> (in multipliers, out multipliers) of the generator blocks
G_ARCH = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]),
    512: ([16, 16, 8, 8, 4, 2, 1], [16, 8, 8, 4, 2, 1, 1]),
}
# resolution -> (in multipliers after the RGB input, out multipliers, downsample flags)
D_ARCH = {
    32: ([4, 4, 4], [4, 4, 4, 4], [True, True, False, False]),
    64: ([1, 2, 4, 8], [1, 2, 4, 8, 16], [True] * 4 + [False]),
    128: ([1, 2, 4, 8, 16], [1, 2, 4, 8, 16, 16], [True] * 5 + [False]),
    256: ([1, 2, 4, 8, 8, 16], [1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False]),
    512: ([1, 1, 2, 4, 8, 8, 16], [1, 1, 2, 4, 8, 8, 16, 16], [True] * 7 + [False]),
}
BOTTOM = 4


@dataclass
class BigGANConfig:
    resolution: int = 128
    G_ch: int = 96
    D_ch: int = 96
    dim_z: int = 120
    shared_dim: int = 128
    n_classes: int = 1000
    G_attn: tuple = (64,)
    D_attn: tuple = (64,)
    class_names: list | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.resolution not in G_ARCH:
            raise ValueError(f"resolution must be one of {sorted(G_ARCH)}, got {self.resolution}")
        self.G_attn = tuple(int(a) for a in self.G_attn)
        self.D_attn = tuple(int(a) for a in self.D_attn)
        n = len(G_ARCH[self.resolution][0]) + 1
        self.dim_z = (self.dim_z // n) * n  # hierarchical z: equal chunks per block + the linear

    @property
    def n_blocks(self) -> int:
        return len(G_ARCH[self.resolution][0])

    @property
    def z_chunk(self) -> int:
        return self.dim_z // (self.n_blocks + 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["G_attn"], d["D_attn"] = list(self.G_attn), list(self.D_attn)
        return d


class Generator(nn.Module):
    def __init__(self, cfg: BigGANConfig):
        super().__init__()
        self.config = cfg
        ins, outs = G_ARCH[cfg.resolution]
        ch = cfg.G_ch
        cond_dim = cfg.shared_dim + cfg.z_chunk
        self.shared = nn.Embedding(cfg.n_classes, cfg.shared_dim)
        self.linear = SNLinear(cfg.z_chunk, ins[0] * ch * BOTTOM * BOTTOM)
        blocks = []
        res = BOTTOM
        for i_m, o_m in zip(ins, outs):
            res *= 2
            layers = [GBlock(i_m * ch, o_m * ch, cond_dim)]
            if res in cfg.G_attn:
                layers.append(Attention(o_m * ch))
            blocks.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(PlainBN(outs[-1] * ch), nn.ReLU(), SNConv2d(outs[-1] * ch, 3))
        self.init_weights()
        self.eval()

    @property
    def n_groups(self) -> int:
        """Tunable groups: 0 = linear (+ embedding), i = block i-1 (DGP.md section 4)."""
        return len(self.blocks) + 1

    def group_params(self, update_embed: bool = False) -> list[list[nn.Parameter]]:
        first = list(self.linear.parameters())
        if update_embed:
            first += list(self.shared.parameters())
        return [first] + [list(b.parameters()) for b in self.blocks]

    def group_modules(self) -> list[nn.Module]:
        return [self.linear] + list(self.blocks)

    def init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not isinstance(m, nn.Embedding):
                nn.init.orthogonal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.shared.weight, 0, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        zs = torch.split(z, self.config.z_chunk, dim=1)
        h = self.linear(zs[0]).view(z.shape[0], -1, BOTTOM, BOTTOM)
        for i, block in enumerate(self.blocks):
            cond = torch.cat([c, zs[i + 1]], dim=1)
            for layer in block:
                h = layer(h, cond)
        return torch.tanh(self.output_layer(h))

    @torch.no_grad()
    def switch_to_instance_norm(self, z: torch.Tensor, c: torch.Tensor, blocks) -> None:
        """Swap BN for IN in ``blocks`` with IN's affine set so the output does not jump."""
        targets = [self.blocks[i][0] for i in blocks if not self.blocks[i][0].use_in]
        for b in targets:
            b._calibrate_in = True
        try:
            self.forward(z, c)
        finally:
            for b in targets:
                b._calibrate_in = False
                b.use_in = True

    def reset_norm_mode(self) -> None:
        for block in self.blocks:
            block[0].use_in = False


class Discriminator(nn.Module):
    def __init__(self, cfg: BigGANConfig):
        super().__init__()
        self.config = cfg
        ins, outs, down = D_ARCH[cfg.resolution]
        ch = cfg.D_ch
        in_chs = [3] + [m * ch for m in ins]
        blocks = []
        res = cfg.resolution
        for i, (i_c, o_m, d) in enumerate(zip(in_chs, outs, down)):
            res = res // 2 if d else res
            layers = [DBlock(i_c, o_m * ch, preactivation=i > 0, downsample=d)]
            if res in cfg.D_attn:
                layers.append(Attention(o_m * ch))
            blocks.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(blocks)
        self.linear = SNLinear(outs[-1] * ch, 1)
        self.embed = SNEmbedding(cfg.n_classes, outs[-1] * ch)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                nn.init.orthogonal_(m.weight)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        self.eval()

    @property
    def n_features(self) -> int:
        return sum(len(b) for b in self.blocks) + 1

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """Returns (logit, features): every block/attention output, then the pooled vector."""
        feats = []
        h = x
        for block in self.blocks:
            for layer in block:
                h = layer(h)
                feats.append(h)
        pooled = torch.sum(F.relu(h), dim=(2, 3))
        feats.append(pooled)
        logit = self.linear(pooled)
        if y is not None:
            logit = logit + torch.sum(self.embed(y) * pooled, dim=1, keepdim=True)
        return logit, feats


class BigGAN:
    """A generator/discriminator pair with its configuration."""

    def __init__(self, G: Generator, D: Discriminator | None, config: BigGANConfig,
                 name: str = "model", source: str | None = None):
        self.G, self.D, self.config = G, D, config
        self.name, self.source = name, source

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def class_name(self, class_id: int) -> str:
        from .classes import class_names
        names = class_names(self.config)
        return names[class_id] if 0 <= class_id < len(names) else str(class_id)

    def to(self, device) -> "BigGAN":
        self.G.to(device)
        if self.D is not None:
            self.D.to(device)
        return self

    @torch.no_grad()
    def sample(self, class_id, n: int = 1, std: float = 1.0, seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        z = (torch.randn(n, self.config.dim_z, generator=gen) * std).to(self.device)
        y = torch.full((n,), int(class_id), dtype=torch.long, device=self.device)
        return self.G(z, self.G.shared(y))


def build_biggan(config: BigGANConfig, with_D: bool = True, device="cpu", seed: int | None = None,
                 meta: bool = False) -> BigGAN:
    """Random-weight BigGAN of any size; ``meta=True`` allocates no memory (shape checks)."""
    if seed is not None:
        torch.manual_seed(seed)
    dev = torch.device("meta") if meta else torch.device(device)
    with dev:
        G = Generator(config)
        D = Discriminator(config) if with_D else None
    return BigGAN(G, D, config)


def freeze_sn_all(module: nn.Module) -> None:
    for layer in sn_layers(module):
        layer.freeze_sn()


def unfreeze_sn_all(module: nn.Module) -> None:
    for layer in sn_layers(module):
        layer.unfreeze_sn()
