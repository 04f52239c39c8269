#!/bin/bash
# One device call: GPU bench (#6) then two GPU training runs of the bundled prior's architecture (#4).
# DEV=cuda on the device; DEV=cpu + small numbers for a dry run here.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
DEV=${DEV:-cuda}; RND=${RND:-256x96}; END=${END:-470}; B1=${B1:-90}; B2=${B2:-150}; SC=${SC:-0.1}
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LOG=$OUT/log.txt
{ nvidia-smi -L; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
  python3 -c "import torch;print(torch.__version__, torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"; } >>$LOG 2>&1
echo "== t=$(el) bench 1: exact/fast-eager at iters-scale $SC" >>$LOG
timeout $B1 python3 bench/engine.py --device $DEV --random $RND --modes exact,fast-eager \
  --iters-scale $SC --json $OUT/bench_scaled.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
echo "== t=$(el) bench 2: fast-eager/fast-graph, full preset" >>$LOG
timeout $B2 python3 bench/engine.py --device $DEV --random $RND --modes fast-eager,fast-graph \
  --json $OUT/bench_full.json >>$LOG 2>&1; echo "rc=$?" >>$LOG
M=$(python3 -c "print(max(0.5, ($END - $(el)) / 60))")
echo "== t=$(el) training, $M min each" >>$LOG
COMMON="--resolution 64 --G-ch 16 --D-ch 16 --dim-z 100 --shared-dim 64 --attn 32 --batch-size 32 --D-steps 2
 --ema-decay 0.999 --steps 100000 --max-minutes $M --sample-every 1000 --checkpoint-every 2000
 --export-dtype float16 --device $DEV --precision fp32 --threads 4 --name dgp-prior-64"
python3 -m dgp_studio train gpu_pack/photos160 --out /tmp/trA $COMMON --G-lr 2e-4 --D-lr 2e-4 --seed 0 >/tmp/trA.log 2>&1 &
PA=$!
python3 -m dgp_studio train gpu_pack/photos160 --out /tmp/trB $COMMON --G-lr 1e-4 --D-lr 4e-4 --seed 1 >/tmp/trB.log 2>&1 &
PB=$!
wait $PA; echo "trA rc=$? t=$(el)" >>$LOG; wait $PB; echo "trB rc=$? t=$(el)" >>$LOG
for r in trA trB; do
  cp /tmp/$r.log /tmp/$r/ 2>/dev/null
  tar czf $OUT/$r.tgz -C /tmp/$r model samples train_log.csv $r.log 2>>$LOG
done
ls -la $OUT >>$LOG; echo "== done t=$(el)" >>$LOG
