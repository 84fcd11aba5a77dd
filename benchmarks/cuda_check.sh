#!/usr/bin/env bash
# The GPU checks of issue 7, run by hand on a CUDA machine from the repository
# root: CUDA tests (no host sync in the solver loop; CPU/GPU agreement), the
# speed benchmark on the GPU, and a short time-to-accuracy run. Results go to
# ${OUT:-benchmarks/cuda}. Each step has its own time limit; a failing step
# does not stop the others.
OUT=${OUT:-benchmarks/cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, sklearn, skorch, numpy; print('torch', torch.__version__,
 'sklearn', sklearn.__version__, 'skorch', skorch.__version__, 'numpy', numpy.__version__)"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 | tee "$OUT/pytest_cuda.log"
timeout 180 python3 benchmarks/speed.py --device cuda --threads 1 --repeats 5 \
    --slow-repeats 5 --out "$OUT/SPEED_cuda.md"
timeout 60 python3 benchmarks/speed.py --device cuda --threads 1 --only lorenz63 \
    --batch 1024 --no-memory --out "$OUT/SPEED_cuda_batch1024.md"
timeout 240 python3 benchmarks/time_to_accuracy.py --device cuda --budget ${TTA_BUDGET:-150} \
    --epochs 40 --out "$OUT/TIME_TO_ACCURACY_CUDA.md"
