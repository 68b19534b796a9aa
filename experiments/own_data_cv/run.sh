#!/usr/bin/env bash
# own_data (distilled, its teachers trained and checked inside the run) against own_data_plain,
# as a user runs them (`kasc train own_data --set data.manifest=labels.csv`), by 2-fold
# cross-validation (fold 1 -> 2 and fold 2 -> 1) on two data sets made by make_data.py:
#   us8k     UrbanSound8K dev as it is (up to 4 s, 44.1 / 48 kHz files)
#   unlike   0.5 s around each clip's loudest part, at 8 kHz
# Seeds 0-2 (train.seed and augment.seed of the student). The teachers' settings do not depend
# on the student's seed, so they are trained once per data set and direction, in
# runs/teachers--DATA--fold<T>to<V>/, and every seed's own_data run finds them there (its
# teachers/ folder is a link to it). Runs land in experiments/own_data_cv/runs/ARM--DATA--fold<T>to<V>--seed<S>;
# each resumes if interrupted and is skipped once finished. ARMS may also name
# own_data_mn04only (own_data with the AudioSet teacher alone; teacher_subset.sh) and
# own_data_plain_views (own_data without its teachers; experiments/configs/own_data_cv/). The table:
#   python experiments/own_data_cv/table.py
# Data sets first, then seeds: the cheap condition finishes first.
#   DATA_DIR=/somewhere bash experiments/own_data_cv/run.sh   (default: .cache/own_data_cv)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
SEEDS=${SEEDS:-"0 1 2"}
SETS=${SETS:-"unlike us8k"}
DIRECTIONS=${DIRECTIONS:-"1:2 2:1"}
ARMS=${ARMS:-"own_data_plain own_data"}
DATA_DIR=${DATA_DIR:-$repo/.cache/own_data_cv}
out=$repo/experiments/own_data_cv/runs
mkdir -p "$out"
[ -f "$DATA_DIR/unlike/labels.csv" ] || python experiments/own_data_cv/make_data.py "$DATA_DIR"
finished() { grep -q '"finished": true' "$1/metrics.json" 2>/dev/null; }
for set in $SETS; do
  for seed in $SEEDS; do
    for direction in $DIRECTIONS; do
      t=${direction%:*} v=${direction#*:}
      for arm in $ARMS; do
        dir="$out/$arm--$set--fold${t}to${v}--seed$seed"
        if finished "$dir"; then echo "[own_data_cv] $dir: finished, skipped"; continue; fi
        config=$arm more=()
        if [ "$arm" = own_data_mn04only ]; then  # teacher_subset.sh: the AudioSet teacher alone
          config=own_data more=(--set "distill.teachers=[own_data_teacher_mn04]")
        fi
        if [ "$config" = own_data ]; then
          mkdir -p "$dir" "$out/teachers--$set--fold${t}to${v}"
          [ -e "$dir/teachers" ] || ln -s "../teachers--$set--fold${t}to${v}" "$dir/teachers"
        fi
        echo "[own_data_cv] $dir: $(date -u +%FT%TZ) start"
        (cd "$DATA_DIR/$set" && python -m kasc.train "$config" --verbose 2 --run-dir "$dir" \
          --set data.manifest=labels.csv --set data.train_split="fold$t" --set data.valid_split="fold$v" \
          --set train.seed="$seed" --set augment.seed="$seed" "${more[@]}")
        echo "[own_data_cv] $dir: $(date -u +%FT%TZ) end"
      done
    done
  done
done
