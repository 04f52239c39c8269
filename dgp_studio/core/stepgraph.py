"""One optimisation iteration recorded once per stage and replayed (CUDA graphs).

A batch-1 DGP iteration on a GPU is launch-bound: a few thousand small kernels (forward,
backward, two Adam steps) whose launches cost more than their maths.  A CUDA graph records
them once and replays them with one launch.  Within a stage nothing changes shape, learning
rate or trainable set, so one recording serves the whole stage; the next stage records anew.

``StepGraph(step, zero_grad)``: ``step()`` does one whole iteration (loss, backward, optimiser
steps) and returns tensors (image, stacked losses).  ``capture()`` records it without running
it; ``replay()`` runs it and returns the *same* output tensors every time (static buffers:
clone what you keep).  The optimisers must be ``capturable`` and must have taken a step since
the trainable set last changed (their state exists), and the step's lazily built caches
(frozen W/sigma, cuDNN algorithm choice) must be warm: the caller runs a few ordinary
iterations first.

``emulate=True`` runs ``step`` eagerly on any device and copies its outputs into static buffers,
which gives the same aliasing as a real graph: the tests use it on the CPU to check the
caller's bookkeeping (what must be cloned, counting, stage changes).
"""
from __future__ import annotations

import torch

from .devicelocks import capture_lock


class StepGraph:
    def __init__(self, step, zero_grad, emulate: bool = False, stream=None, device="cuda"):
        self.step = step
        self.zero_grad = zero_grad
        self.emulate = emulate
        self.stream = stream  # the stream the ordinary (warm-up) iterations ran on
        self.device = device  # whose capture lock the recording holds (devicelocks.py)
        self.graph = None
        self.outputs = None

    def capture(self) -> None:
        # gradients set to None: the recorded backward allocates (from the graph's pool) the
        # gradient buffers it overwrites on every replay, so nothing accumulates across replays
        self.zero_grad()
        with capture_lock(self.device):  # the editor's renders wait for the recording
            if self.emulate:
                return
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
                outputs = self.step()
        self.graph, self.outputs = graph, outputs

    def replay(self):
        if self.emulate:
            self.zero_grad()  # what the recorded backward's fresh gradient buffers amount to
            fresh = self.step()
            if self.outputs is None:
                self.outputs = tuple(t.detach().clone() for t in fresh)
            else:
                for buf, t in zip(self.outputs, fresh):
                    buf.copy_(t.detach())
            return self.outputs
        self.graph.replay()
        return self.outputs

    def release(self) -> None:
        """Drop the recording (its memory pool is freed once its outputs and gradients are)."""
        self.graph = None
        self.outputs = None
        self.zero_grad()
