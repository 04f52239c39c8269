"""``dgp-studio eval``: simulate degradations on clean photos, restore them, score them.

- ``images``: the image folder -> model-resolution tensors (+ class from the folder layout);
- ``colour_metrics``: Lab a/b error and Hasler-Suesstrunk colourfulness;
- ``baselines``: bicubic, z-only inversion, deep-image-prior generator, ablation variants;
- ``tasks``: one runner per task (reconstruct, colorize, inpaint, sr4, ablation);
- ``runner``: runs the tasks over the images and collects every number;
- ``runstore``: finished runs on disk, so an interrupted evaluation resumes;
- ``report``: Markdown + JSON report and one image sheet per task.
"""
from .images import EvalImage, find_images, load_images
from .runner import EvalSettings, run_evaluation, TASK_NAMES
from .report import write_report

__all__ = ["EvalImage", "find_images", "load_images", "EvalSettings", "run_evaluation", "TASK_NAMES",
           "write_report"]
