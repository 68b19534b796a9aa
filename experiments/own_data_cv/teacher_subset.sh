#!/usr/bin/env bash
# Which teachers should teach? In fold 2 -> 1 of the 0.5 s / 8 kHz condition the two-teacher
# ensemble (0.598) is below the AudioSet teacher alone (0.637). This runs own_data with the
# AudioSet teacher alone (--set distill.teachers=[own_data_teacher_mn04]), the same seeds and
# the same trained teacher as run.sh's own_data runs (teachers/ is a link to run.sh's
# teachers folder), so that a rule such as "keep only teachers that raise the ensemble" can be
# judged by cross-validation: in fold 1 -> 2 the ensemble beats each teacher, so that rule keeps
# both and run.sh's own_data runs are its result there. Runs land in
# experiments/own_data_cv/runs/own_data_mn04only--DATA--fold<T>to<V>--seed<S>; each resumes.
#   DATA_DIR=/somewhere bash experiments/own_data_cv/teacher_subset.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
SEEDS=${SEEDS:-"0 1 2"}
SETS=${SETS:-"unlike"}
DIRECTIONS=${DIRECTIONS:-"2:1"}
DATA_DIR=${DATA_DIR:-$repo/.cache/own_data_cv}
out=$repo/experiments/own_data_cv/runs
finished() { grep -q '"finished": true' "$1/metrics.json" 2>/dev/null; }
for set in $SETS; do
  for seed in $SEEDS; do
    for direction in $DIRECTIONS; do
      t=${direction%:*} v=${direction#*:}
      dir="$out/own_data_mn04only--$set--fold${t}to${v}--seed$seed"
      if finished "$dir"; then echo "[teacher_subset] $dir: finished, skipped"; continue; fi
      [ -d "$out/teachers--$set--fold${t}to${v}/own_data_teacher_mn04" ] || {
        echo "[teacher_subset] run run.sh first: $out/teachers--$set--fold${t}to${v} has no mn04 teacher" >&2; exit 2; }
      mkdir -p "$dir"
      [ -e "$dir/teachers" ] || ln -s "../teachers--$set--fold${t}to${v}" "$dir/teachers"
      echo "[teacher_subset] $dir: $(date -u +%FT%TZ) start"
      (cd "$DATA_DIR/$set" && python -m kasc.train own_data --verbose 2 --run-dir "$dir" \
        --set data.manifest=labels.csv --set data.train_split="fold$t" --set data.valid_split="fold$v" \
        --set train.seed="$seed" --set augment.seed="$seed" --set "distill.teachers=[own_data_teacher_mn04]")
      echo "[teacher_subset] $dir: $(date -u +%FT%TZ) end"
    done
  done
done
