#!/usr/bin/env bash
# The GPU evidence of the accelerated engine, as ONE script for a lent CUDA machine (see benchmarks/README.md).
#
# Prepare on the development machine (no GPU needed), from the repository root:
#   uv build --all-packages -o .whl && pip download --no-deps -d .whl platformdirs
# then run on the GPU machine, carrying .whl:
#   bash benchmarks/gpu_check.sh            # about 5 minutes on one H100/H200
# It installs the wheels into /tmp/site (no network), prints the GPU, runs benchmarks/epoch_time.py eager and
# with --compile on full 45,000-image epochs, and a 2-run `shrinkbench bench --device cuda` on synthetic CIFAR.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE=/tmp/site
python3 -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" SHRINKBENCH_CACHE=/tmp/sb-cache HF_HUB_OFFLINE=1
python3 -c "import torch; print('gpu:', torch.cuda.get_device_name(0), 'torch', torch.__version__)"
python3 benchmarks/epoch_time.py --device cuda --images 45000 --reps 3
python3 benchmarks/epoch_time.py --device cuda --images 45000 --reps 3 --compile
DATA=$(mktemp -d)
python3 -c "from shrinkbench_vision.datasets.synthetic import write_cifar; write_cifar('$DATA', train_per_batch=10000, test_size=10000)"
python3 -m shrinkbench_cli bench -d cifar10 -m resnet56 --data-root "$DATA" --device cuda \
    -s global-magnitude -s random -c 4 --pretrain-epochs 1 --finetune-epochs 1 --out /tmp/sb-gpu --no-report
python3 -c "import csv; [print({k: r[k] for k in ('run_id', 'device', 'status', 'top1', 'seconds')}) for r in csv.DictReader(open('/tmp/sb-gpu/results.csv'))]"
python3 benchmarks/nm_latency.py
