#!/usr/bin/env bash
# Device shift on real audio (README "Device shift"): the plain SERFR-CNN-32 on the
# UrbanSound8K dev data, with DIR augmentation, with Freq-MixStyle and with both, each
# evaluated on fold 2 as it is and on fold 2 "recorded by unseen devices" (every clip
# convolved with one impulse response of the held-out half of ../shared/data/dirs).
# Each run resumes if interrupted (run the script again).
set -euo pipefail
cd "$(dirname "$0")"
for run in us8k_plain_student us8k_student_dir us8k_student_mixstyle us8k_student_dir_mixstyle; do
  python -m kasc.train "$run" --verbose 2
done
python -m kasc.device_shift saved_models/us8k_plain_student saved_models/us8k_student_dir \
  saved_models/us8k_student_mixstyle saved_models/us8k_student_dir_mixstyle --output docs/device_shift.md
