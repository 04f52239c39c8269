"""The seamless inpainting fill (core/seam.py): the harmonic solve against a dense linear solve
built independently, hand-computable cases, and what the inpainting task returns."""
import torch

from dgp_studio.core.degradations import Inpainting
from dgp_studio.core.seam import harmonic_fill, seamless_fill


def dense_harmonic(b: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The same problem as one explicit matrix per channel: for every hole pixel,
    (number of in-image neighbours) x value - (its hole neighbours) = (its known neighbours)."""
    H, W = hole.shape
    idx = [(i, j) for i in range(H) for j in range(W) if hole[i, j]]
    pos = {q: n for n, q in enumerate(idx)}
    out = b.clone().double()
    out[:, hole] = 0
    for c in range(b.shape[0]):
        A = torch.zeros(len(idx), len(idx), dtype=torch.float64)
        rhs = torch.zeros(len(idx), dtype=torch.float64)
        for (i, j), n in pos.items():
            for a, k in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if not (0 <= a < H and 0 <= k < W):
                    continue
                A[n, n] += 1
                if (a, k) in pos:
                    A[n, pos[(a, k)]] -= 1
                else:
                    rhs[n] += float(b[c, a, k])
        sol = torch.linalg.solve(A, rhs)
        for (i, j), n in pos.items():
            out[c, i, j] = sol[n]
    return out


def test_harmonic_fill_matches_a_dense_solve_including_a_hole_on_the_border():
    g = torch.Generator().manual_seed(0)
    H, W = 9, 12
    b = torch.randn(2, H, W, generator=g, dtype=torch.float64)
    hole = torch.zeros(H, W, dtype=torch.bool)
    hole[2:7, 3:9] = True
    hole[4, 0:3] = True      # an arm that reaches the left border
    hole[0, 10] = True       # a one-pixel hole on the top border
    got = harmonic_fill(b[None], hole[None, None], tol=1e-9)[0]
    want = dense_harmonic(b, hole)
    assert got.shape == b.shape and got.dtype == b.dtype
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.equal(got[:, ~hole], b[:, ~hole])  # outside the hole: the input itself


def test_a_plane_is_continued_exactly_and_a_constant_offset_is_removed():
    H = W = 40
    yy, xx = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    plane = (0.01 * xx - 0.02 * yy + 0.1).expand(1, 3, H, W)
    hole = torch.zeros(1, 1, H, W, dtype=torch.bool)
    hole[..., 5:30, 12:33] = True
    # a discrete plane is harmonic: the fill of its rim is the plane itself
    assert torch.allclose(harmonic_fill(plane * ~hole, hole), plane, atol=1e-4)
    # the right picture painted 0.3 too bright comes back right
    clean = 0.5 * torch.sin(xx / 5)[None, None].expand(1, 3, H, W) * torch.cos(yy / 7)
    out = seamless_fill(clean + 0.3, clean, ~hole)
    assert torch.allclose(out, clean, atol=1e-4)


def test_seamless_fill_keeps_known_pixels_and_closes_the_step_at_the_rim():
    g = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.arange(32.), torch.arange(32.), indexing="ij")
    clean = 0.5 * torch.sin(xx / 4 + yy / 9).expand(2, 3, 32, 32)
    # a fill that is too bright by a smooth, uneven amount, plus a little texture of its own
    fill = (clean + 0.3 + 0.01 * xx - 0.004 * yy + 0.03 * torch.randn(2, 3, 32, 32, generator=g)).clamp(-1, 1)
    known = torch.ones(2, 1, 32, 32)
    known[0, :, 8:20, 10:24] = 0
    known[1, :, 0:12, 0:12] = 0  # a corner hole in the second image
    out = seamless_fill(fill, clean, known)
    k = known.expand_as(clean) > 0.5
    assert torch.equal(out[k], clean[k])
    assert out.min() >= -1 and out.max() <= 1

    def rim_step(img):  # mean |hole pixel - known neighbour| across the hole's edge (image 0)
        h = known[0, 0] < 0.5
        inner = h[1:, :] & ~h[:-1, :]
        return (img[0, :, 1:, :][:, inner] - img[0, :, :-1, :][:, inner]).abs().mean()

    plain = torch.where(k, clean, fill)
    assert rim_step(plain) > 0.3 and rim_step(out) < 0.2 * rim_step(plain)


def test_no_hole_and_no_known_pixel():
    fill = torch.rand(1, 3, 8, 8) * 2 - 1
    obs = torch.rand(1, 3, 8, 8) * 2 - 1
    assert torch.equal(seamless_fill(fill, obs, torch.ones(8, 8)), obs)
    assert torch.equal(seamless_fill(fill, obs, torch.zeros(8, 8)), fill)


def test_the_inpainting_task_returns_the_seamless_fill():
    g = torch.Generator().manual_seed(5)
    obs = torch.rand(1, 3, 24, 24, generator=g) * 2 - 1
    deg = Inpainting.centered_hole(24)
    raw = (obs + 0.4).clamp(-1, 1)
    final = deg.postprocess(raw, deg.simulate(obs))
    m = deg.mask.expand_as(obs) > 0.5
    assert torch.equal(final[m], obs[m])
    assert torch.allclose(final, seamless_fill(raw, deg.simulate(obs), deg.mask))
    assert not torch.allclose(final[~m], raw[~m])  # the fill itself was corrected
