cd /work/main
date -u
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
uptime
./build/clippo bench --suite gemm,embed,train --variants b16 --batches 1,8 --runs 5 --no-pytorch --device 0:0 --out /tmp/acc/fp32 2>&1 | grep -v "^clippo bench: running"
for p in int8 bf16; do
  CLIPPO_PRECISION=$p ./build/clippo bench --suite embed --variants b16 --batches 1,8 --runs 5 --no-pytorch --no-peers --device 0:0 --out /tmp/acc/$p 2>&1 | grep -E "^embed|^ratio"
done
uptime
date -u
