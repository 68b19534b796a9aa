"""How closely a consistently distilled student matches its teachers on the views it
trained on, against the clips it never heard.

Usage: python experiments/view_agreement.py RUN TEACHER_RUN... [--views 0 37] [--banks FILE...]

RUN is a finished run of a config with ``augment.views`` (e.g.
``experiments/runs/us8k_consistent_kd_student--fold1to2--seed0``), TEACHER_RUN its teachers'
run folders. For each view asked for, the student's top-1 class on that view of every
training clip (rendered as in training, ``kasc.data.views``) is compared with the
teacher ensemble's on the very same view (the cached view logits, probability average at
T = 1; ``--banks`` reads the teachers' cached view logits from the files given, e.g. the
entries a run of another kasc version wrote, instead of looking them up or computing
them); the run's ``teacher_agreement`` (``metrics.json``) is the same figure on the
validation clips. A student that matches its teachers on its training views but not on
new recordings has learnt their function where it was shown it, and no further.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("teachers", type=Path, nargs="+")
    parser.add_argument("--views", type=int, nargs="+", default=[0, 37])
    parser.add_argument("--banks", type=Path, nargs="+", default=None,
                        help="the teachers' view logits (K, n_clips, C) as .npy files, in TEACHER_RUN order")
    args = parser.parse_args()

    from kasc.config import load_config
    from kasc.data.pipeline import prepare_splits
    from kasc.data.views import render
    from kasc.data.features import LogMel
    from kasc.models import load_model
    from kasc.models.blocks import logits_model
    from kasc.models.ensemble import tempered_average
    from kasc.files.runs import RunDir
    from kasc.training.teachers.view_bank import view_logits_of_teachers
    from kasc.training.inputs import view_plan

    run = RunDir(args.run)
    cfg = load_config(run.config_file)
    data = prepare_splits(cfg.data, splits=("train",), progress=False)["train"]
    plan, files = view_plan(cfg, data)
    if args.banks:
        banks = [np.load(path) for path in args.banks]
        if any(bank.shape[:2] != (plan.views, len(data)) for bank in banks):
            raise SystemExit(f"error: the banks' shapes {[b.shape for b in banks]} are not ({plan.views}, {len(data)}, C)")
    else:
        banks = view_logits_of_teachers(cfg, data, [RunDir(t).model_file for t in args.teachers], plan, files)
    student = logits_model(load_model(run.model_file))
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    responses = None
    if files:
        from kasc.config import resolve_path
        from kasc.data.impulse_responses import load_responses

        responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
    result = {"run": str(run.path), "validation_agreement": run.metrics().get("teacher_agreement")}
    for view in args.views:
        teacher = np.asarray(tempered_average([bank[view] for bank in banks], 1.0)).argmax(axis=1)
        predicted = np.concatenate([
            np.asarray(student(logmel(render(data.waveforms, plan, view, rows, responses)), training=False))
            for rows in np.array_split(np.arange(len(data)), max(1, len(data) // 64))]).argmax(axis=1)
        result[f"training_view_{view}_agreement"] = float((predicted == teacher).mean())
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
