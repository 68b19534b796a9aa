#!/usr/bin/env bash
# The real-audio evidence of the README (UrbanSound8K subset, fold 1 train / fold 2 valid):
# three teachers, their ensemble, a plain SERFR-CNN-32, a distilled SERFR-CNN-32 (cached
# soft targets of the ensemble) and the DCASE 2023 baseline, all through the same pipeline.
# Each line is one row's command; the KD student trains the teachers first if needed.
set -euo pipefail
cd "$(dirname "$0")"
python -m kasc.train us8k_teacher_bcresnet --verbose 2
python -m kasc.train us8k_teacher_mobilenetv2 --verbose 2
python -m kasc.train us8k_teacher_cnn --verbose 2
python -m kasc.train us8k_plain_student --verbose 2
python -m kasc.train us8k_kd_student --verbose 2
python -m kasc.train us8k_baseline --verbose 2
