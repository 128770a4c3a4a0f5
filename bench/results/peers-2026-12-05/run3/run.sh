# The third side-by-side run (commit 2bb1136); results were copied from /tmp/acc3 into this folder
# (int8-*, bf16-* prefixed). Peers from bench/peers/.venv (bench/peers/setup.sh).
cd /work/main
date -u
echo "commit $(git rev-parse --short HEAD)"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
uptime
./build/clippo bench --suite gemm,embed,train --variants b16 --batches 1,8 --runs 5 --no-pytorch --device 0:0 --out /tmp/acc3/fp32 2>&1 | grep -v "^clippo bench: running"
for p in int8 bf16; do
  CLIPPO_PRECISION=$p ./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch --no-peers --device 0:0 --out /tmp/acc3/$p 2>&1 | grep -E "^embed|^ratio"
done
uptime
date -u
