# Twelfth session's GPU check, one device call (inner timeouts add up to 595 s), run from the
# repository root: bash docs/results/gpu_h200_s12/run.sh  ($OUT: the device tool's output folder).
#  1. where a fast iteration's time goes (bench/cuda_profile.py): kernels per iteration, their
#     summed device time, wall time plain and from a CUDA graph; fp32 and bf16; 2 and all groups.
#  2. quality and speed on two new inputs (seeds 1, 2: weights, target, candidates), full
#     colorization preset: exact, fast (fp32 + graphs, the default) and fast in bf16.
#  3. the sixth session's one spectral-norm node against a node per layer (fast, seed 1 inputs).
#  4. TF32 matmuls on (fast, seed 1 inputs).
#  5. seed 0 again (the fifth session's input: exact 36.12 dB, fast 36.01 / 26.69 / 25.77 dB).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log.txt
{ nvidia-smi -L; python3 -c "import torch;print(torch.__version__, torch.cuda.get_device_name())"; } >>$LOG 2>&1
echo "== t=$(el) profile" >>$LOG
timeout 80 python3 bench/cuda_profile.py --device cuda --random 256x96 --json $OUT/profile.json >>$LOG 2>&1
echo "rc=$?" >>$LOG
for s in 1 2; do
  echo "== t=$(el) seed $s: exact, fast, fast-bf16" >>$LOG
  timeout 135 python3 bench/engine.py --device cuda --random 256x96 --modes exact,fast,fast-bf16 --seed $s \
    --json $OUT/quality_s$s.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
done
echo "== t=$(el) node per layer (fast, seed 1)" >>$LOG
DGP_STUDIO_ONE_SN_NODE=0 timeout 50 python3 bench/engine.py --device cuda --random 256x96 --modes fast --seed 1 \
  --json $OUT/sn_node0.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) TF32 matmuls (fast, seed 1)" >>$LOG
DGP_STUDIO_TF32_MATMUL=1 timeout 60 python3 bench/engine.py --device cuda --random 256x96 --modes fast,fast-bf16 \
  --seed 1 --json $OUT/tf32.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) seed 0: exact, fast, fast-bf16" >>$LOG
timeout 135 python3 bench/engine.py --device cuda --random 256x96 --modes exact,fast,fast-bf16 --seed 0 \
  --json $OUT/quality_s0.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== done t=$(el)" >>$LOG
