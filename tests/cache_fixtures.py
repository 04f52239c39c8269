"""Tiny models and results shared by the cache / project / robustness tests (issue 8)."""
from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch
from torch.func import functional_call

from dgp_studio.core import presets
from dgp_studio.core.biggan import BigGANConfig, build_biggan
from dgp_studio.core.reconstructor import ReconstructionResult, Reconstructor

TINY = dict(resolution=32, G_ch=8, D_ch=8, dim_z=20, shared_dim=8, n_classes=5, G_attn=(16,), D_attn=(16,))


def tiny_config() -> BigGANConfig:
    return BigGANConfig(**TINY)


def tiny_gan(seed: int = 0):
    return build_biggan(tiny_config(), seed=seed)


def tiny_preset(name: str = "reconstruct", factor: float = 0.03, select_num: int = 4):
    return dataclasses.replace(presets.get(name).scaled(factor), select_num=select_num)


def photo(seed: int = 0, size: int = 32) -> np.ndarray:
    """A smooth random 'photo' (uint8 HxWx3)."""
    g = np.random.default_rng(seed)
    small = g.integers(0, 256, size=(4, 4, 3)).astype(np.float32)
    big = np.kron(small, np.ones((size // 4, size // 4, 1), dtype=np.float32))
    return np.clip(big + g.normal(0, 8, big.shape), 0, 255).astype(np.uint8)


@contextlib.contextmanager
def one_thread():
    """Tiny models run ~10x faster on one thread when the 2 shared cores are busy."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def real_result(gan, preset=None, seed: int = 0, class_id: int = 1, image_seed: int = 0, degradation=None):
    """A genuine (short) reconstruction."""
    with one_thread():
        rec = Reconstructor(gan, preset or tiny_preset(), degradation)
        return rec.run(photo(image_seed), class_id=class_id, seed=seed)


def fake_result(gan, seed: int = 0, groups: int = 2, scale: float = 1e-3) -> ReconstructionResult:
    """A result without optimisation: the first ``groups`` groups' parameters perturbed."""
    g = torch.Generator().manual_seed(seed)
    G = gan.G
    names = {id(q): n for n, q in G.named_parameters()}
    state = {k: v.detach().clone() for k, v in G.state_dict().items()}
    for params in G.group_params(False)[:groups]:
        for q in params:
            n = names[id(q)]
            if ".in1." in n or ".in2." in n:
                continue
            state[n] = state[n] + scale * torch.randn(state[n].shape, generator=g)
    z = torch.randn(1, gan.config.dim_z, generator=g) * 0.5
    class_id = seed % gan.config.n_classes
    c = state["shared.weight"][class_id][None].clone()
    with torch.no_grad():
        img = functional_call(G, state, (z, c))
    obs = torch.from_numpy(photo(seed).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None].contiguous()
    hist = [{"stage": 0, "iteration": i + 1, "total": 1.0 / (i + 1), "ftr": 0.5, "mse": 0.25, "nll": 0.125}
            for i in range(5)]
    return ReconstructionResult(
        image=img, final=img.clone(), z=z, class_id=class_id, class_embedding=c, generator_state=state,
        target=obs, observed=obs.clone(), preset=presets.get("reconstruct"), task="reconstruct", seed=seed,
        history=hist, stages_done=1, steps_done=5, timings={"total_s": 1.5})


def changed_names(result, gan) -> set:
    base = gan.G.state_dict()
    return {k for k, v in result.generator_state.items() if not torch.equal(v, base[k])}


def key_n(n: int) -> str:
    return f"{n:064x}"


def shared_cache_worker(root: str, model_dir: str, wid: int, rounds: int, budget: int, queue, barrier) -> None:
    """One of several processes hammering the same disk cache (spawned by test_robustness).
    Every key's content is a deterministic function of the key, so any read can be verified."""
    import time
    import traceback
    import warnings

    from dgp_studio.core.cache import CacheCorruptionWarning, ResultCache
    from dgp_studio.core.checkpoint import load_biggan
    torch.set_num_threads(1)
    try:
        gan = load_biggan(model_dir)
        cache = ResultCache(root, memory_budget=0, disk_budget=budget)
        rng = np.random.default_rng(wid)
        expected = {k: fake_result(gan, k) for k in range(6)}
        hits = puts = 0
        barrier.wait(120)  # both processes start hammering at the same moment
        t0 = time.time()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for _ in range(rounds):
                k = int(rng.integers(0, 6))
                if rng.random() < 0.5:
                    cache.put(key_n(k), expected[k], gan)
                    puts += 1
                else:
                    r = cache.get(key_n(k), gan)
                    if r is not None:
                        e = expected[k]
                        assert r.seed == k and torch.equal(r.z, e.z), f"key {k}: wrong entry"
                        for n, t in e.generator_state.items():
                            assert (r.generator_state[n] - t).abs().max() <= 1e-5, f"key {k}: {n} differs"
                        hits += 1
        bad = [str(w.message) for w in seen if issubclass(w.category, (CacheCorruptionWarning, RuntimeWarning))]
        queue.put((wid, "ok", {"hits": hits, "puts": puts, "warnings": bad, "window": (t0, time.time())}))
    except BaseException:  # noqa: BLE001 - reported to the parent test
        queue.put((wid, "error", traceback.format_exc()))
