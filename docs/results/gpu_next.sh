# The next GPU check, prepared for one device call (timeouts add up to 580 s), run from the
# repository root: bash docs/results/gpu_next.sh ($OUT: the device tool's output folder).
# What it answers (the twelfth session's H200 runs left these open, docs/PERFORMANCE.md):
#  1. the ">= 10x the reference on the same GPU" in one process: the release's work
#     (--modes reference: the exact path plus its per-iteration recomputation of D(x_hat) and
#     D's spectral norms) against today's default fast path (bf16, CUDA graphs), seed 1.
#  2. the editor's case: jitter grids rendered from another thread while a fast run records and
#     replays its graphs (renders now wait for a recording, devicelocks.py): does the run keep
#     its graphs and end as it does alone, and how long do the renders take meanwhile?
#  3. the way to <= 10 s: the fast loss under torch.compile (Inductor fuses the ~1,000 small
#     kernels) inside the recorded graph, all groups tuned, bf16: compile time, ms/iteration and
#     kernels against plain (core/compiled.py, opt-in DGP_STUDIO_COMPILE=inductor).  If the graph
#     ms/it falls well below ~6.4, the next call runs the full preset with it:
#     DGP_STUDIO_COMPILE=inductor python3 bench/engine.py --device cuda --random 256x96 --modes fast --repeats 2
#  4. the batch stretch (thirteenth session, core/groupedrun.py): 8 photos one at a time (fast
#     path) vs the same 8 as groups of 4 and of 8 (one loop, each photo with its own weights),
#     BigGAN-256 ch 96, colorization x0.2, 100 candidates: images per hour, peak memory, and how
#     close each grouped result is to its single run.  Goal: >= 3x the one-at-a-time throughput.
#     (BigGAN-128 exact vs fast, the twelfth session's item 4, moved out to make room:
#     python3 bench/engine.py --device cuda --random 128x96 --modes exact,fast)
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log.txt
{ nvidia-smi -L; python3 -c "import torch;print(torch.__version__, torch.cuda.get_device_name())"; } >>$LOG 2>&1
echo "== t=$(el) reference vs fast, 256x96, seed 1" >>$LOG
timeout 150 python3 bench/engine.py --device cuda --random 256x96 --modes reference,fast --seed 1 \
  --json $OUT/reference_vs_fast.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) renders during a run" >>$LOG
timeout 60 python3 docs/results/render_during_run.py --device cuda --random 256x96 --iters-scale 0.2 >>$LOG 2>&1
echo "rc=$?" >>$LOG
echo "== t=$(el) compiled loss vs plain, all groups tuned, bf16" >>$LOG
timeout 280 python3 bench/cuda_profile.py --device cuda --random 256x96 --ft 99 --precision bf16 \
  --compile none,inductor --json $OUT/compile_probe.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) grouped photos vs one at a time" >>$LOG
timeout 90 python3 bench/grouped.py --device cuda --random 256x96 --group 4,8 --iters-scale 0.2 \
  --select-num 100 --json $OUT/grouped.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== done t=$(el)" >>$LOG
