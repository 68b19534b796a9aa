#!/usr/bin/env bash
# Which teachers should teach? In fold 2 -> 1 of the 0.5 s / 8 kHz condition the two-teacher
# ensemble (0.598) is below the AudioSet teacher alone (0.637). This runs own_data with the
# AudioSet teacher alone (run.sh's arm own_data_mn04only: --set
# distill.teachers=[own_data_teacher_mn04]), the same seeds and the same trained teacher as
# run.sh's own_data runs (teachers/ is a link to run.sh's teachers folder), so that a rule such
# as "keep only teachers that raise the ensemble" can be judged by cross-validation: in fold
# 1 -> 2 the ensemble beats each teacher, so that rule keeps both and run.sh's own_data runs
# are its result there. Runs land in
# experiments/own_data_cv/runs/own_data_mn04only--DATA--fold<T>to<V>--seed<S>; each resumes.
#   DATA_DIR=/somewhere bash experiments/own_data_cv/teacher_subset.sh
set -euo pipefail
SETS=${SETS:-unlike} DIRECTIONS=${DIRECTIONS:-2:1} ARMS=own_data_mn04only exec bash "$(dirname "$0")/run.sh"
