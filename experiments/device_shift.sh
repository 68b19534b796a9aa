#!/usr/bin/env bash
# Device shift on real audio (README "Device shift"): the plain SERFR-CNN-32 on the
# UrbanSound8K dev data, with DIR augmentation, with Freq-MixStyle and with both, each
# evaluated on fold 2 as it is and on fold 2 "recorded by unseen devices" (every clip
# convolved with one impulse response of the held-out half of ../shared/data/dirs).
# Each run resumes if interrupted (run the script again).
set -euo pipefail
cd "$(dirname "$0")/.."
for run in us8k_plain_student us8k_student_dir us8k_student_mixstyle us8k_student_dir_mixstyle; do
  python -m kasc.train "$run" --verbose 2
done
python -m kasc.device_shift saved_models/us8k_plain_student saved_models/us8k_student_dir \
  saved_models/us8k_student_mixstyle saved_models/us8k_student_dir_mixstyle --output docs/studies/device_shift.md
# DIR against plain over three seeds (weights, clip order, augmentation): seeds 1 and 2 of
# the DIR student (the plain student's come from experiments/us8k.sh)
for seed in 1 2; do
  python -m kasc.train us8k_student_dir --set train.seed=$seed --set augment.seed=$seed \
    --run-dir "saved_models/us8k_student_dir_seed$seed" --verbose 2
done
python -m kasc.device_shift saved_models/us8k_plain_student saved_models/us8k_plain_student_seed1 \
  saved_models/us8k_plain_student_seed2 saved_models/us8k_student_dir saved_models/us8k_student_dir_seed1 \
  saved_models/us8k_student_dir_seed2 --output docs/studies/device_shift_seeds.md
