#!/usr/bin/env bash
# The real-audio evidence of the README (UrbanSound8K dev data, fold 1 train / fold 2 valid):
# the plain reference recipe (log-mel statistics + logistic regression), a plain
# SERFR-CNN-32, the DCASE 2023 baseline, three teachers, their ensemble and a distilled
# SERFR-CNN-32 (cached soft targets of the ensemble), the AudioSet-pretrained EfficientAT
# mn04 teacher fine-tuned on its own 32 kHz front end and SERFR-CNN-32 students distilled
# from it, from ensembles of it, with cross-fitted soft targets, and from a mixed ensemble
# (AudioSet heads and the scratch CNN), all through the same pipeline.
# Each line is one row's command; every run resumes if interrupted (run it again).
# The table: python -m kasc.compare saved_models/us8k_* --teachers saved_models/us8k_kd_as_ensemble_student --paired-with us8k_plain_student
set -euo pipefail
cd "$(dirname "$0")/.."
# RUN with seed 0 in saved_models/RUN, then seeds 1 and 2 (weights, clip order and
# augmentation) in saved_models/RUN_seed1 and _seed2; finished runs are skipped
three_seeds() {
  python -m kasc.train "$1" --verbose 2
  for seed in 1 2; do
    python -m kasc.train "$1" --set train.seed=$seed --set augment.seed=$seed \
      --run-dir "saved_models/$1_seed$seed" --verbose 2
  done
}
python experiments/logmel_logreg.py us8k
python -m kasc.train us8k_plain_student --verbose 2
python -m kasc.train us8k_teacher_mn04 --verbose 2
python -m kasc.train us8k_kd_mn04_student --verbose 2
python -m kasc.train us8k_teacher_mn04_probe --verbose 2
python -m kasc.train us8k_teacher_mn04_lpft --verbose 2
python -m kasc.train us8k_kd_as_ensemble_student --verbose 2
python -m kasc.train us8k_kd_mn04_probe_student --verbose 2
# the plain and the ensemble-distilled student again with seeds 1 and 2
three_seeds us8k_plain_student
three_seeds us8k_kd_as_ensemble_student
# three head-only AudioSet teachers (seeds 0, 1, 2; their ensemble) and the student
# distilled from them (it trains the two new teachers first)
three_seeds us8k_kd_probe_ensemble_student
# cross-fitted soft targets: the head-only teacher trained 4 times, each without a quarter
# of fold 1 (by source recording), each clip labelled by the run that never heard it
three_seeds us8k_kd_crossfit_student
python -m kasc.train us8k_baseline --verbose 2
python -m kasc.train us8k_teacher_bcresnet --verbose 2
python -m kasc.train us8k_teacher_mobilenetv2 --verbose 2
python -m kasc.train us8k_teacher_cnn --verbose 2
python -m kasc.train us8k_kd_student --verbose 2
# two head-only AudioSet teachers and the scratch CNN teacher (trained above), 3 seeds
three_seeds us8k_kd_mixed_student
# the mixed-ensemble and the cross-fitted students again with the label term weighted 0.02
# (CP-JKU's DCASE 2023 weighting), 3 seeds each
three_seeds us8k_kd_mixed_label_weight002_student
three_seeds us8k_kd_crossfit_label_weight002_student
# schedule length: the plain student and the mixed-ensemble student (label weight 0.02)
# trained 100 epochs instead of 40, 3 seeds each
three_seeds us8k_kd_mixed_label_weight002_student_100epochs
three_seeds us8k_plain_student_100epochs
