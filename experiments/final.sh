#!/usr/bin/env bash
# Issue 20's deliverable: the UrbanSound8K models users get, trained on every dev clip (folds
# 1 and 2, 1,761 clips) with the recipe chosen by cross-validation (experiments/cv.sh):
#   saved_models/us8k_student            the distilled SERFR-CNN-32 (its three teachers train
#                                        on every clip first, beside it)
#   saved_models/us8k_plain_student_all  its plain twin, same views and schedule
# Neither has a held-out score (nothing is held out): each metrics.json says so (held_out:
# false) and quotes the cross-validation of its recipe (cross_validation), written by
# `python -m kasc.compare --cv ... --quote-into`. Cost on 2 cores: teachers about 30 min,
# the 64-view bank about 40 min, each student about 1 h (300 epochs of 28 steps).
# Every run resumes if interrupted and is skipped once finished: run the script again.
# FAST=1 runs the fast profile (tiny subsets, a few epochs) into outputs/final-fast.
# RESTART=1 discards the two runs and trains them afresh: needed once after the recipe
# changes, since kasc.train refuses to continue a run folder that holds another config
# (an interrupted restarted run then resumes by running the script again without it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=saved_models profile=()
if [ "${FAST:-0}" = 1 ]; then
  runs=outputs/final-fast profile=(--profile fast)
fi
restart=()
if [ "${RESTART:-0}" = 1 ]; then
  restart=(--restart)
fi
# the recipe chosen by cross-validation (one of experiments/cv.sh's ALL_RECIPES): us8k_student
# extends RECIPE_kd_student, us8k_plain_student_all RECIPE_plain_student (a test checks it)
recipe=us8k_consistent_speed_long
# the cross-validation runs of the recipe and of its plain twin (kasc.compare leaves out and
# names those not finished)
cv_runs=(experiments/runs/${recipe}_{kd,plain}_student--fold*--seed?)
for name in us8k_student us8k_plain_student_all; do
  python -m kasc.train "$name" --verbose 2 --run-dir "$runs/$name" "${profile[@]}" "${restart[@]}"
  python -m kasc.compare --cv "${cv_runs[@]}" --paired-with ${recipe}_plain_student \
    --quote-into "$runs/$name"
done
