# The next GPU check, prepared for one device call (timeouts add up to 520 s), run from the
# repository root: bash docs/results/gpu_next.sh ($OUT: the device tool's output folder;
# ~6 GiB of GPU memory).  What it answers:
#  1. quality: is the fast path's fit systematically below the exact path's on BigGAN-256
#     (random weights), or was the fifth session's 36 vs 26 dB a draw from one chaotic spread?
#     Two new inputs (--seed: weights, target and candidates; seed 0 ran in the fifth session:
#     exact 36.12 dB, fast 36.01 / 26.69 / 25.77 dB), both paths, full colorization preset.
#  2. speed: the sixth session's one-node spectral norm (fastpath.SNWeights, ~400 fewer kernels
#     per fully tuned iteration) against a node per layer, CUDA graphs on, same process order.
#  3. bisect, only meaningful if 1 shows a systematic gap: TF32 matmuls on, NCHW instead of NHWC.
# Compare "fit dB", "ms/it" and "last_losses" in the JSON files.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log.txt
{ nvidia-smi -L; python3 -c "import torch;print(torch.__version__, torch.cuda.get_device_name())"; } >>$LOG 2>&1
for s in 1 2; do
  echo "== t=$(el) seed $s: exact, fast" >>$LOG
  timeout 125 python3 bench/engine.py --device cuda --random 256x96 --modes exact,fast --seed $s \
    --json $OUT/quality_s$s.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
done
echo "== t=$(el) one node vs node per layer (fast, graphs), seed 0" >>$LOG
for n in 1 0 1 0; do
  DGP_STUDIO_ONE_SN_NODE=$n timeout 45 python3 bench/engine.py --device cuda --random 256x96 --modes fast \
    --json $OUT/sn_node$n.$(el).json >>$LOG 2>&1; echo "node=$n rc=$?" >>$LOG
done
echo "== t=$(el) bisect: TF32 matmuls; NCHW" >>$LOG
DGP_STUDIO_TF32_MATMUL=1 timeout 45 python3 bench/engine.py --device cuda --random 256x96 --modes fast \
  --json $OUT/tf32.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
DGP_STUDIO_CHANNELS_LAST=0 timeout 45 python3 bench/engine.py --device cuda --random 256x96 --modes fast \
  --json $OUT/nchw.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== done t=$(el)" >>$LOG
