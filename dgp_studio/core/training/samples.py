"""Sample grids: one row per class, fixed latents so grids from different steps compare."""
from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont


def fixed_latents(n_classes: int, per_class: int, dim_z: int, seed: int = 1234, std: float = 1.0):
    """Row-major (class, column) latents: column j uses the same z in every row."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(per_class, dim_z, generator=gen) * std
    z = z.repeat(n_classes, 1)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return z, y


@torch.no_grad()
def generate_grid_tensor(G, n_classes: int, per_class: int, dim_z: int, seed: int = 1234,
                         std: float = 1.0, train_mode: bool = False, chunk: int = 64) -> torch.Tensor:
    """(n_classes * per_class) x 3 x H x W in [-1, 1]; ``train_mode`` uses batch statistics."""
    device = next(G.parameters()).device
    z, y = fixed_latents(n_classes, per_class, dim_z, seed, std)
    was_training = G.training
    G.train(train_mode)
    if train_mode:  # do not let grid batches move the stored statistics
        saved = {k: v.clone() for k, v in G.state_dict().items() if "stored_" in k or k.endswith("u0")}
    try:
        if train_mode:  # one batch so that batch statistics cover every class
            out = G(z.to(device), G.shared(y.to(device)))
        else:
            out = torch.cat([G(z[i:i + chunk].to(device), G.shared(y[i:i + chunk].to(device)))
                             for i in range(0, len(z), chunk)])
    finally:
        if train_mode:
            G.load_state_dict(saved, strict=False)
        G.train(was_training)
    return out.float().cpu()


def grid_image(images: torch.Tensor, rows: int, labels=None, pad: int = 2, scale: int = 1) -> Image.Image:
    """Tile ``rows`` x (n / rows) images; class labels in a left margin when given."""
    n, _, h, w = images.shape
    cols = n // rows
    arr = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    h2, w2 = h * scale, w * scale
    margin = 0
    font = None
    if labels:
        font = ImageFont.load_default()
        margin = max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(str(t), font=font))
                     for t in labels) + 2 * pad + 4
    sheet = Image.new("RGB", (margin + cols * (w2 + pad) + pad, rows * (h2 + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        tile = Image.fromarray(arr[i])
        if scale != 1:
            tile = tile.resize((w2, h2), Image.NEAREST)
        sheet.paste(tile, (margin + pad + c * (w2 + pad), pad + r * (h2 + pad)))
    if labels:
        for r, t in enumerate(labels):
            draw.text((pad + 2, pad + r * (h2 + pad) + h2 // 2 - 5), str(t), fill=(0, 0, 0), font=font)
    return sheet
