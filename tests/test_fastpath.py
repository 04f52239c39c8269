"""The fast engine path: same function as the modules, same run semantics, same quality.

Speed itself is measured by bench/engine.py (ratios in one process), never asserted here."""
from dataclasses import replace

import pytest
import torch

from dgp_studio.core import presets, runtime
from dgp_studio.core.biggan import build_biggan
from dgp_studio.core.degradations import Colorization, Inpainting, SuperResolution
from dgp_studio.core.fastpath import FastDiscriminator, FastGenerator, rank_candidates, sn_weights
from dgp_studio.core.losses import DGPLoss, feature_l1_per_sample
from dgp_studio.core.metrics import psnr, tensor01
from dgp_studio.core.reconstructor import Reconstructor
from dgp_studio.core.spectral import SNConv2d, SNLinear

from conftest import tiny_config


def perturbed_gan(seed=0):
    """Random tiny GAN with non-trivial BN statistics and attention gains, so every path counts."""
    gan = build_biggan(tiny_config(), seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, b in gan.G.named_buffers():
            if name.endswith("stored_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            if name.endswith("stored_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
        for m in list(gan.G.modules()) + list(gan.D.modules()):
            if hasattr(m, "gamma"):
                m.gamma.fill_(0.3)
    return gan


@pytest.mark.parametrize("make", [lambda: SNConv2d(6, 5), lambda: SNLinear(9, 7)])
def test_sn_weight_matches_plain_autograd(make):
    torch.manual_seed(0)
    layer = make().eval()
    w_ref = layer.sn_weight()  # the module's own expression, differentiated by autograd
    g = torch.randn_like(w_ref)
    (grad_ref,) = torch.autograd.grad((w_ref * g).sum(), layer.weight)
    (w,) = sn_weights([layer])
    (grad,) = torch.autograd.grad((w * g).sum(), layer.weight)
    assert torch.allclose(w, w_ref, rtol=1e-6, atol=1e-7)
    assert torch.allclose(grad, grad_ref, rtol=1e-5, atol=1e-7)
    # compute dtype and layout come out of the same node; the gradient goes back to fp32
    (wb,) = sn_weights([layer], dtypes=[torch.bfloat16], channels_last=[True])
    assert wb.dtype == torch.bfloat16 and wb.shape == w.shape
    if wb.dim() == 4:
        assert wb.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(wb.float(), w_ref, rtol=1e-2, atol=1e-3)
    (gb,) = torch.autograd.grad((wb.float() * g).sum(), layer.weight)
    assert gb.dtype == torch.float32 and gb.is_contiguous()
    assert float((gb - grad_ref).norm() / grad_ref.norm()) < 1e-2  # g itself arrives rounded to bf16


def test_sn_weights_of_several_layers_in_one_node_equal_each_layers_own():
    """One node for many layers (the fast path's default): same values and gradients as a node per
    layer, each output in its own dtype / layout, and no gradient for an output left unused."""
    torch.manual_seed(1)
    layers = [SNConv2d(6, 5).eval(), SNConv2d(8, 4, 1, padding=0).eval(), SNLinear(9, 7).eval(), SNLinear(3, 2).eval()]
    dtypes = [torch.bfloat16, torch.float32, torch.float32, torch.float32]
    cl = [True, True, False, False]
    gs = [torch.randn(m.weight.shape) for m in layers]
    together = sn_weights(layers, dtypes=dtypes, channels_last=cl)
    used = together[:3]  # the last layer's output is not used
    grads = torch.autograd.grad(sum((w.float() * g).sum() for w, g in zip(used, gs)),
                                [m.weight for m in layers], allow_unused=True)
    assert grads[3] is None
    for i, m in enumerate(layers[:3]):
        (alone,) = sn_weights([m], dtypes=[dtypes[i]], channels_last=[cl[i]])
        (ref,) = torch.autograd.grad((alone.float() * gs[i]).sum(), m.weight)
        assert together[i].dtype == dtypes[i] and together[i].stride() == alone.stride()
        assert torch.equal(together[i], alone)
        assert torch.allclose(grads[i], ref, rtol=1e-6, atol=1e-7)
        w_ref = m.sn_weight()  # and the module's own expression, differentiated by autograd
        assert torch.allclose(together[i].float(), w_ref, rtol=1e-2 if dtypes[i] == torch.bfloat16 else 1e-6,
                              atol=1e-3 if dtypes[i] == torch.bfloat16 else 1e-7)
        (g_ref,) = torch.autograd.grad((w_ref * gs[i]).sum(), m.weight)
        assert float((grads[i] - g_ref).norm() / g_ref.norm()) < (1e-2 if dtypes[i] == torch.bfloat16 else 1e-5)


@pytest.mark.parametrize("max_numel", [None, 1000])
def test_one_sn_node_run_matches_a_node_per_layer(monkeypatch, max_numel):
    """The run with the tuned layers' W/sigma in one node (the default) tunes the same way as the
    run with a node per layer, layout copies included; also when the bigger layers keep their own
    nodes beside the shared one (max_numel 1000 splits the tiny model's layers)."""
    if max_numel is not None:
        monkeypatch.setattr(FastGenerator, "ONE_NODE_MAX_NUMEL", max_numel)
        sizes = [m.weight.numel() for m in perturbed_gan().G.modules() if isinstance(m, (SNConv2d, SNLinear))]
        assert min(sizes) < max_numel < max(sizes)
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(3, 3, 3, 3, 3), select_num=4)
    img = gan.sample(1, seed=9)

    def run(flag):
        monkeypatch.setenv("DGP_STUDIO_ONE_SN_NODE", flag)
        return Reconstructor(gan, p, Colorization(), precision="fp32").run(img, class_id=1, seed=0)
    a, b = run("1"), run("0")
    base = gan.G.state_dict()
    for k, v in base.items():
        if k.endswith("weight") and k.startswith("blocks."):
            d_ab = float((a.generator_state[k] - b.generator_state[k]).norm())
            d_base = float((a.generator_state[k] - v).norm())
            assert d_ab <= 0.05 * d_base + 1e-6, k
    assert float((a.image - b.image).abs().mean()) < 1e-3


def _set_groups(G, ft):
    G.requires_grad_(False)
    for i, m in enumerate(G.group_modules()):
        m.requires_grad_(i < ft)


@pytest.mark.parametrize("one_sn_node", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_networks_compute_the_modules_function(channels_last, one_sn_node):
    gan = perturbed_gan()
    G, D = gan.G, gan.D
    D.requires_grad_(False)
    z = torch.randn(2, gan.config.dim_z, generator=torch.Generator().manual_seed(3))
    c = G.shared(torch.tensor([1, 4])).detach()
    G.switch_to_instance_norm(z[:1], c[:1], [0])  # the optional IN path too
    ft = 2
    _set_groups(G, ft)
    x_ref = G(z, c)
    f_ref = D(x_ref)[1]
    loss_ref = sum(f.abs().mean() for f in f_ref)
    names = [n for n, q in G.named_parameters() if q.requires_grad]
    live = [q for q in G.parameters() if q.requires_grad]

    def grads_of(loss):  # block 0 runs on instance norm: its BN parameters are unused
        return {n: g for n, g in zip(names, torch.autograd.grad(loss, live, allow_unused=True)) if g is not None}
    grads_ref = grads_of(loss_ref)

    fg = FastGenerator(G, torch.float32, channels_last, one_sn_node=one_sn_node)
    fg.set_trainable(ft)
    fd = FastDiscriminator(D, torch.float32, channels_last)
    x = fg(z, c)
    feats = fd.features(x)
    assert torch.allclose(x, x_ref, atol=1e-5)
    assert len(feats) == D.n_features
    for f, r in zip(feats, f_ref):
        assert torch.allclose(f, r, rtol=1e-4, atol=1e-5 * float(r.detach().abs().max()))
    loss = sum(f.abs().mean() for f in feats)
    grads = grads_of(loss)
    assert set(grads) == set(grads_ref) and all(n.startswith(("linear.", "blocks.0.")) for n in grads)
    scale = max(float(g.abs().max()) for g in grads_ref.values())  # (IN makes some bias grads ~0: noise)
    # Norms, not the largest element: the fast networks round differently (channels-last, other
    # summation orders), and a ReLU input within ~1e-6 of zero can switch sides.  On an AVX2 CPU
    # one of the 65,536 inputs of the output layer's ReLU did, which moved single elements of
    # the linear layer's gradient by 1.4e-3 of its largest one (3.4e-4 in norm).  A wrong formula
    # moves the whole gradient.
    for n in grads:
        err = float((grads[n] - grads_ref[n]).norm())
        assert err <= 2e-3 * float(grads_ref[n].norm()) + 1e-5 * scale * grads_ref[n].numel() ** 0.5, (n, err)


def test_bf16_networks_stay_close_to_fp32():
    gan = perturbed_gan()
    z = torch.randn(4, gan.config.dim_z, generator=torch.Generator().manual_seed(5))
    c = gan.G.shared(torch.tensor([0, 1, 2, 3])).detach()
    with torch.no_grad():
        ref = gan.G(z, c)
        fg = FastGenerator(gan.G, torch.bfloat16, True)
        fg.set_trainable(0)
        x = fg(z, c)
        feats = FastDiscriminator(gan.D, torch.bfloat16, True).features(x)
        f_ref = gan.D(x)[1]
    assert x.dtype == torch.float32 and (x - ref).pow(2).mean().sqrt() < 0.02
    for f, r in zip(feats, f_ref):
        assert float((f.float() - r).norm() / r.norm()) < 0.05


def test_rank_candidates_matches_reference_scores():
    gan = perturbed_gan()
    target = Colorization()(gan.sample(2, seed=7))
    gen = torch.Generator().manual_seed(1)
    zs = torch.randn(10, gan.config.dim_z, generator=gen) * 0.5
    ys = torch.randint(0, gan.config.n_classes, (10,), generator=gen)
    got = rank_candidates(gan.G, gan.D, Colorization(), target, zs, ys, 3, batch=4)
    tf = DGPLoss(gan.D, target).target_feats
    with torch.no_grad():
        ref = torch.cat([feature_l1_per_sample(gan.D(Colorization()(gan.G(zs[i:i + 1], gan.G.shared(ys[i:i + 1]))))[1],
                                               tf, 3) for i in range(10)])
    assert torch.allclose(got, ref, rtol=1e-4)
    assert len(rank_candidates(gan.G, gan.D, Colorization(), target, zs, ys, 3, 4, should_stop=lambda: True)) == 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_search_picks_the_exact_searchs_candidate(precision):
    gan = perturbed_gan()
    img = gan.sample(3, seed=4)
    p = replace(presets.get("reconstruct"), iterations=(0,) * 5, select_num=24, sample_std=0.7)
    exact = Reconstructor(gan, p, Colorization(), exact=True).run(img, class_id=None, seed=2)
    fast = Reconstructor(gan, p, Colorization(), precision=precision).run(img, class_id=None, seed=2)
    assert torch.equal(fast.z, exact.z) and fast.class_id == exact.class_id
    # the reported loss is the fp32 one (re-scored), not the bf16 ranking value
    assert fast.search_loss == pytest.approx(exact.search_loss, rel=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fast_run_keeps_stage_semantics_and_leaves_models_alone(precision):
    gan = perturbed_gan()
    base = {k: v.clone() for k, v in gan.G.state_dict().items()}
    d_state = {k: v.clone() for k, v in gan.D.state_dict().items()}
    d_flags = [q.requires_grad for q in gan.D.parameters()]
    p = replace(presets.get("colorization"), iterations=(2, 2, 2, 2, 2), select_num=4)
    rec = Reconstructor(gan, p, Colorization(), precision=precision)
    snaps = []
    rec.run(gan.sample(1, seed=9), class_id=1, seed=0,
            progress=lambda pr: pr.phase == "optimise" and pr.iteration == pr.stage_iterations
            and snaps.append({k: v.clone() for k, v in rec.G.state_dict().items()}))
    ft = [min(f, gan.G.n_groups) for f in p.ft_num]
    prev = base
    for s, snap in enumerate(snaps):
        changed = {k for k in snap if not torch.equal(prev[k], snap[k])}
        groups = {0 if k.startswith(("linear.", "shared.")) else int(k.split(".")[1]) + 1 if k.startswith("blocks.")
                  else None for k in changed}
        assert None not in groups and groups == set(range(ft[s])), (s, groups)
        prev = snap
    assert all(torch.equal(v, gan.G.state_dict()[k]) for k, v in base.items())
    assert all(torch.equal(v, gan.D.state_dict()[k]) for k, v in d_state.items())
    assert [q.requires_grad for q in gan.D.parameters()] == d_flags
    assert all(q.grad is None for q in gan.D.parameters())


def test_deferred_loss_readback_keeps_progress_semantics():
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(5, 5, 5, 5, 5), select_num=4)
    events = []
    rec = Reconstructor(gan, p, Colorization(), preview_every=3, sync_every=4)
    res = rec.run(gan.sample(0, seed=0), class_id=0, progress=events.append)
    opt = [e for e in events if e.phase == "optimise"]
    assert [e.step for e in opt] == list(range(1, 26))
    assert [e.iteration for e in opt[:5]] == [1, 2, 3, 4, 5]
    assert [e.iteration for e in opt if e.preview is not None] == [3, 5] * 5
    assert [h["total"] for h in res.history] == [e.losses["total"] for e in opt]
    # cancelling mid-burst: every step that ran is reported, none after
    seen = []
    rec2 = Reconstructor(gan, p, Colorization(), sync_every=4)

    def on_progress(pr):
        if pr.phase == "optimise":
            seen.append(pr.step)
            if pr.step == 6:
                rec2.cancel()
    res2 = rec2.run(gan.sample(0, seed=0), class_id=0, progress=on_progress)
    assert res2.cancelled and res2.steps_done == seen[-1] and seen == list(range(1, res2.steps_done + 1))
    assert 6 <= res2.steps_done <= 9


def test_fast_path_is_deterministic():
    gan = perturbed_gan()
    p = replace(presets.get("inpainting").scaled(0.02), select_num=6)
    deg = Inpainting.centered_hole(32)
    a = Reconstructor(gan, p, deg).run(gan.sample(3, seed=2), class_id=3, seed=4)
    b = Reconstructor(gan, p, deg).run(gan.sample(3, seed=2), class_id=3, seed=4)
    assert torch.equal(a.image, b.image) and torch.equal(a.z, b.z)
    assert all(torch.equal(v, b.generator_state[k]) for k, v in a.generator_state.items())


QUALITY_TASKS = [("colorization", Colorization), ("inpainting", lambda: Inpainting.centered_hole(32)),
                 ("super-resolution", lambda: SuperResolution(4))]


def _fit(gan, task, make_deg, seeds, **kw):
    """Mean PSNR of phi(G output) against the target (what the optimisation fits)."""
    out = []
    for seed in seeds:
        deg = make_deg()
        clean = gan.sample(2, std=0.5, seed=10 + seed)
        p = replace(presets.get(task).scaled(0.2), select_num=20)
        r = Reconstructor(gan, p, deg, **kw).run(deg.simulate(clean), class_id=2, seed=seed)
        out.append(psnr(tensor01(deg(r.image)), tensor01(r.target)))
    return sum(out) / len(out)


@pytest.mark.parametrize("task,make_deg", QUALITY_TASKS, ids=[t for t, _ in QUALITY_TASKS])
def test_quality_guard_fast_vs_exact(task, make_deg):
    """The default fast path (bf16 on CPUs with bf16 units, else fp32) within 0.2 dB of exact,
    mean of 2 images, 20% of the preset's iterations (~70-200 steps)."""
    gan = build_biggan(tiny_config(), seed=0)
    seeds = (0, 1)
    exact = _fit(gan, task, make_deg, seeds, exact=True)
    fast = _fit(gan, task, make_deg, seeds)
    prec = runtime.fast_dtype("cpu")
    assert abs(fast - exact) <= 0.2, f"{task} ({prec}): fast {fast:.2f} dB vs exact {exact:.2f} dB"


def test_layout_copies_are_the_same_optimisation_and_end_up_in_the_result(monkeypatch):
    """The fast path tunes k x k conv weights as contiguous (out, kh, kw, in) copies; the run
    must equal the one that tunes the module weights directly, and the copies must be written
    back (the result's state is what the editor re-renders)."""
    from dgp_studio.core.fastpath import FastObjective
    gan = perturbed_gan()
    p = replace(presets.get("colorization"), iterations=(3, 3, 3, 3, 3), select_num=4)
    img = gan.sample(1, seed=9)

    def run(copies):
        monkeypatch.setattr(FastObjective, "LAYOUT_COPIES", copies)
        return Reconstructor(gan, p, Colorization(), precision="fp32").run(img, class_id=1, seed=0)
    a, b = run(True), run(False)
    base = gan.G.state_dict()
    convs = [k for k, v in base.items() if k.endswith("weight") and v.dim() == 4 and v.shape[-1] > 1
             and k.startswith("blocks.")]
    assert convs
    for k in convs:  # tuned by the run (every block is tuned in the last stage) ...
        moved = float((a.generator_state[k] - base[k]).norm())
        assert moved > 1e-3, k
        # ... the same way up to float rounding (the power iteration sums in another order, and
        # Adam's first steps turn rounding-sized gradients into lr-sized steps): < 1 % seen, 5 % allowed
        assert float((a.generator_state[k] - b.generator_state[k]).norm()) < 0.05 * moved, k
    assert float((a.image - b.image).abs().mean()) < 1e-3 and float((a.z - b.z).norm()) < 0.05 * float(a.z.norm())


def test_bf16_on_a_gpu_only_where_it_has_bf16_units(monkeypatch):
    """An H200 (9.0) runs the fast path and the search in bf16; a Turing card (7.5), where
    PyTorch emulates bf16, stays in fp32.  DGP_STUDIO_PRECISION still overrides both."""
    monkeypatch.delenv("DGP_STUDIO_PRECISION", raising=False)
    for capability, expected in (((9, 0), torch.bfloat16), ((8, 0), torch.bfloat16), ((7, 5), torch.float32)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert runtime.fast_dtype("cuda") == expected and runtime.search_dtype("cuda") == expected
    monkeypatch.setenv("DGP_STUDIO_PRECISION", "fp32")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert runtime.fast_dtype("cuda") == torch.float32
