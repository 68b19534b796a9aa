#!/usr/bin/env bash
# Issue 20's evidence: recipes judged by 2-fold cross-validation on the UrbanSound8K dev data,
# both directions (fold 1 trains and fold 2 validates, then the reverse), 3 seeds each.
# A distilled run's teachers are trained on its own training fold (distill.teacher_set), so
# no teacher has heard the clips its student is scored on (kasc.train refuses otherwise).
# Runs land in saved_models/NAME--fold<train>to<valid>--seed<N>, teachers beside them as
# saved_models/TEACHER (fold 1) and saved_models/TEACHER--train_split2--valid_split1 (fold 2).
# The seeds change the weights, the clip order and the student's own log-mel masks; the 64
# views are drawn once per direction (augment.views_seed 0), so that each teacher labels them
# once per direction, not once per seed (about 25 minutes of teacher time per direction on
# 2 cores).
# Every run resumes if interrupted and is skipped once finished: run the script again.
# The table: python -m kasc.compare --cv saved_models/RECIPE_*--fold*--seed? --paired-with RECIPE_plain_student
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
# the recipes to run: each RECIPE is the pair of configs RECIPE_kd_student (distilled) and
# RECIPE_plain_student (its plain twin on the same views); ALL_RECIPES lists those that exist
ALL_RECIPES="us8k_consistent us8k_consistent_mixup1 us8k_consistent_fresh us8k_consistent_mixstyle us8k_consistent_ema us8k_consistent_speed us8k_consistent_speed_long"
RECIPES=${RECIPES:-"us8k_consistent"}
# the directions in the order to run them, TRAIN:VALID ("2:1 1:2" starts with fold 2 -> 1,
# e.g. when its teachers and view bank are already computed)
DIRECTIONS=${DIRECTIONS:-"1:2 2:1"}
# the sides of each recipe to run: "kd plain" (both), or "kd" to screen a candidate's distilled
# side first (its plain twin, needed for the paired gain, can follow later: finished runs are skipped)
SIDES=${SIDES:-"kd plain"}

# NAME TRAIN VALID SEED [SUFFIX [ARGS...]]: one run of NAME trained on fold TRAIN, validated on
# VALID, in saved_models/NAME--fold<TRAIN>to<VALID>--seed<SEED><SUFFIX>
one_run() {
  local name=$1 train=$2 valid=$3 seed=$4 suffix=${5:-}
  shift 4
  [ $# -gt 0 ] && shift
  local dir="experiments/runs/$name--fold${train}to${valid}--seed$seed$suffix"
  # a committed result holds metrics but not the weights, which kasc.train needs to call a run
  # finished: without this check a fresh clone would retrain its teachers and the student
  if grep -q '"finished": true' "$dir/metrics.json" 2>/dev/null; then
    echo "[experiments/cv.sh] $dir: finished (metrics.json), skipped"
    return
  fi
  python -m kasc.train "$name" --verbose 2 \
    --set data.train_split="$train" --set data.valid_split="$valid" \
    --set train.seed="$seed" --set augment.seed="$seed" --set augment.views_seed=0 \
    --run-dir "$dir" "$@"
}

for side in $SIDES; do
  case "$side" in kd|plain) ;; *) echo "error: SIDES: unknown side '$side' (known: kd plain)" >&2; exit 2 ;; esac
done
for recipe in $RECIPES; do
  case " $ALL_RECIPES " in *" $recipe "*) ;; *) echo "error: RECIPES: unknown recipe '$recipe' (known: $ALL_RECIPES)" >&2; exit 2 ;; esac
done
for recipe in $RECIPES; do
  for seed in $SEEDS; do
    for direction in $DIRECTIONS; do
      set -- ${direction/:/ }
      for side in $SIDES; do
        if [ "$side" = kd ]; then
          # the teachers train on the student's training fold (the plain twin has none)
          one_run "${recipe}_kd_student" "$1" "$2" "$seed" "" \
            --set "distill.teacher_set={data.train_split: '$1', data.valid_split: '$2'}"
        else
          one_run "${recipe}_plain_student" "$1" "$2" "$seed"
        fi
      done
    done
  done
done

# What bfloat16 costs in accuracy (train.mixed_precision auto trains in bfloat16 on CPUs with
# AVX-512 BF16 or AMX): a float32 twin of the plain student, fold 1 -> 2, seed 0
one_run us8k_consistent_plain_student 1 2 0 --float32 --set train.mixed_precision=none
