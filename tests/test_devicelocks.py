"""Runs and renders sharing one model from several threads (devicelocks.py, the D guard).

On an H200, fast runs recording CUDA graphs in two threads broke each other; here the order is
checked on the CPU with the emulated recording, which takes the same locks."""
import threading
import time
from dataclasses import replace

import torch

from dgp_studio.core import devicelocks, manipulate, presets
from dgp_studio.core.degradations import Colorization
from dgp_studio.core.reconstructor import Reconstructor

from test_fastpath import perturbed_gan

P = replace(presets.get("colorization"), iterations=(3, 3, 3, 3, 3), select_num=4)


def _in_threads(jobs):
    out, errors = [None] * len(jobs), []

    def wrap(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # noqa: BLE001 - re-raised in the test thread
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return out


def test_runs_with_graph_recording_take_turns_and_match_runs_alone():
    gan = perturbed_gan()
    imgs = [gan.sample(1, seed=9), gan.sample(2, seed=4)]
    seen = []  # (run, step) in the order the progress calls arrived

    def job(i):
        rec = Reconstructor(gan, P, Colorization(), preview_every=0, precision="fp32", cuda_graphs="emulate")
        return rec.run(imgs[i], class_id=1, seed=0,
                       progress=lambda e: e.phase == "optimise" and (seen.append(i), time.sleep(0.002)))
    together = _in_threads([lambda: job(0), lambda: job(1)])
    first = seen[0]
    n = P.total_iterations
    assert seen == [first] * n + [1 - first] * n  # one whole run, then the other
    for i in (0, 1):
        alone = Reconstructor(gan, P, Colorization(), preview_every=0, precision="fp32",
                              cuda_graphs="emulate").run(imgs[i], class_id=1, seed=0)
        assert torch.equal(alone.z, together[i].z) and torch.equal(alone.image, together[i].image)


def test_overlapping_runs_leave_the_shared_discriminator_as_they_found_it():
    gan = perturbed_gan(seed=2)
    D = gan.D
    before = [q.requires_grad for q in D.parameters()]
    assert any(before)
    both_inside = threading.Barrier(2, timeout=60)

    def job(seed):
        def progress(e):
            if e.phase == "optimise" and e.step == 2:
                both_inside.wait()  # each run is past its start while the other one is running
        rec = Reconstructor(gan, P, Colorization(), preview_every=0, precision="fp32")  # CPU: no lock
        return rec.run(gan.sample(1, seed=seed), class_id=1, seed=0, progress=progress)
    res = _in_threads([lambda: job(1), lambda: job(2)])
    assert all(r is not None and r.steps_done == P.total_iterations for r in res)
    assert [q.requires_grad for q in D.parameters()] == before
    assert all(getattr(m, "_frozen_weight", None) is None for m in D.modules())


def test_a_render_waits_for_a_recording_on_its_device(tiny_gan):
    r = manipulate.Renderer(tiny_gan)
    state = {k: v.clone() for k, v in tiny_gan.G.state_dict().items()}
    z, c = torch.zeros(1, tiny_gan.config.dim_z), r.embed(state, 0)
    done = threading.Event()
    lock = devicelocks.capture_lock(r.device)
    with lock:  # what StepGraph.capture holds while recording
        t = threading.Thread(target=lambda: (r.render(state, z, c), done.set()))
        t.start()
        assert not done.wait(0.3)
    assert done.wait(30)
    t.join()


def test_cuda_and_cuda_0_are_one_gpu():
    if not torch.cuda.is_available():
        assert devicelocks.run_lock("cuda") is devicelocks.run_lock("cuda:0")
    assert devicelocks.run_lock("cpu") is not devicelocks.capture_lock("cpu")
    assert devicelocks.run_lock("cuda:1") is not devicelocks.run_lock("cuda:0")
