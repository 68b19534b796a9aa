"""The report's Table 2: each teacher and their ensemble on the teachers' validation split."""

from __future__ import annotations

import dataclasses

from kasc.config import load_config
from kasc.data.features import LogMel
from kasc.data.pipeline import at_sample_rate, prepare_splits
from kasc.evaluation.inference import keras_probabilities
from kasc.evaluation.metrics import split_report
from kasc.evaluation.output_csv import write_predictions
from kasc.evaluation.run_evaluation import column_labels, format_reports
from kasc.files.runs import RunDir
from kasc.models import load_model
from kasc.models.ensemble import average_probabilities


def ensemble_report(runs: list[RunDir], weights=(), batch_size: int = 32, predictions_file=None) -> dict:
    """The report's Table 2: each teacher run and their ensemble (weighted average of
    probabilities) on the teachers' validation split; printed, and returned as
    ``{name: split_report}``, each teacher's with its ``probabilities`` (n_clips, C) and
    ``labels`` (n_clips,) of the validation clips; the ensemble's probabilities are written to
    ``predictions_file`` (DCASE output CSV) if given. All teachers must share the data config, except the sample
    rate (each teacher sees the clips at its own rate, through its own front end) and
    the part of the training split a cross-fitted teacher held out (``kasc.training.teachers.cross_fit``)."""
    configs = [load_config(run.config_file) for run in runs]
    clips = [dataclasses.replace(cfg.data, sample_rate=0, cache_logmel=False, held_out_part=0) for cfg in configs]
    if any(c != clips[0] for c in clips):
        raise ValueError("the teachers were trained on different data configs; their ensemble cannot be evaluated "
                         f"on one split ({', '.join(str(r.path) for r in runs)})")
    data = prepare_splits(configs[0].data, progress=False, label=configs[0].name)["valid"]
    reports, probabilities = {}, []
    for run, cfg in zip(runs, configs):
        model = load_model(run.model_file)
        own = at_sample_rate(configs[0].data, data, cfg.data.sample_rate, progress=False, label=configs[0].name)
        probs = keras_probabilities(model, own, LogMel(cfg.features, cfg.data.sample_rate), batch_size,
                                    progress=f"teacher {cfg.name}")
        probabilities.append(probs)
        # keyed by config name (a second run of one config, e.g. another seed, by its folder)
        reports[cfg.name if cfg.name not in reports else run.path.name] = {
            **split_report(data.table, data.labels, probs, data.class_names), "probabilities": probs,
            "labels": data.labels}
    ensemble = average_probabilities(probabilities, weights)
    reports["ensemble"] = split_report(data.table, data.labels, ensemble, data.class_names)
    if predictions_file is not None:
        write_predictions(predictions_file, data.table["filename"], ensemble, data.class_names)
    print(format_reports(dict(zip(column_labels([n.split("teacher_")[-1] for n in reports]), reports.values()))))
    return reports
