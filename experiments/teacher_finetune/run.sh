#!/usr/bin/env bash
# Head-only against full fine-tuning of the AudioSet-pretrained mn04 teacher, judged by 2-fold
# cross-validation on the UrbanSound8K dev folds (fold 1 -> 2 and fold 2 -> 1), seeds 0-2:
#   probe         us8k_teacher_mn04_probe: the head trains, the AudioSet features stay (20 epochs)
#   ft            us8k_teacher_mn04_lpft from that probe: every layer trains (12 epochs, lr 3e-5),
#                 batch normalisation in inference mode (train.batchnorm auto -> frozen)
#   ft_bntrained  the same with train.batchnorm=trained (batch statistics, as kasc did before)
# Runs land in experiments/teacher_finetune/runs/ARM--fold<T>to<V>--seed<S>; each resumes if
# interrupted and is skipped once finished. The table:
#   python experiments/teacher_finetune/table.py
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${SEEDS:-"0 1 2"}
DIRECTIONS=${DIRECTIONS:-"1:2 2:1"}
BNTRAINED_SEEDS=${BNTRAINED_SEEDS:-"0"}
out=experiments/teacher_finetune/runs
finished() { grep -q '"finished": true' "$1/metrics.json" 2>/dev/null; }
one_run() {  # DIR CONFIG TRAIN VALID SEED [ARGS...]
  local dir=$1 config=$2 train=$3 valid=$4 seed=$5
  shift 5
  if finished "$dir"; then echo "[teacher_finetune] $dir: finished, skipped"; return; fi
  python -m kasc.train "$config" --verbose 2 --run-dir "$dir" \
    --set data.train_split="$train" --set data.valid_split="$valid" --set train.seed="$seed" \
    --set augment.seed="$seed" "$@"
}
for seed in $SEEDS; do
  for direction in $DIRECTIONS; do
    set -- ${direction/:/ }
    t=$1 v=$2 tag="fold${1}to${2}--seed$seed"
    one_run "$out/probe--$tag" us8k_teacher_mn04_probe "$t" "$v" "$seed"
    one_run "$out/ft--$tag" us8k_teacher_mn04_lpft "$t" "$v" "$seed" \
      --set train.init_from="$PWD/$out/probe--$tag"
    case " $BNTRAINED_SEEDS " in *" $seed "*)
      one_run "$out/ft_bntrained--$tag" us8k_teacher_mn04_lpft "$t" "$v" "$seed" \
        --set train.init_from="$PWD/$out/probe--$tag" --set train.batchnorm=trained ;;
    esac
  done
done
