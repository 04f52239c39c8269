#!/bin/bash
# Second device call (#6): search batch 10 at 256x96; exact vs fast-graph full preset; cuDNN autotune off.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
DEV=${DEV:-cuda}; RND=${RND:-256x96}; SC=${SC:-0.1}; FULL=${FULL:-1}
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log2.txt
echo "== t=$(el) A: exact/fast-eager/fast-graph, iters-scale $SC, search batch 10" >>$LOG
timeout 75 python3 bench/engine.py --device $DEV --random $RND --modes exact,fast-eager,fast-graph \
  --iters-scale $SC --search-batch 10 --json $OUT/b2_scaled.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) B: exact/fast-graph full preset, search batch 10" >>$LOG
timeout 130 python3 bench/engine.py --device $DEV --random $RND --modes fast-graph,exact --iters-scale $FULL \
  --search-batch 10 --json $OUT/b2_full.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) C: fast-graph full preset, search batch 10, cuDNN autotune off" >>$LOG
DGP_STUDIO_CUDNN_BENCHMARK=0 timeout 55 python3 bench/engine.py --device $DEV --random $RND --modes fast-graph \
  --iters-scale $FULL --search-batch 10 --json $OUT/b2_noautotune.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== done t=$(el)" >>$LOG
