"""Phase 6 of a run: ``model.keras``, the TFLite export and audit, the evaluation and
``metrics.json``; then quantization-aware training if the config asks for it."""

from __future__ import annotations

import subprocess
import sys
import time

from kasc.complexity.verdict import per_second_complexity
from kasc.config import ExperimentConfig
from kasc.deployment.tflite_export import export_model, sample_logmel, NonFiniteModel, require_finite_model
from kasc.deployment.waveform_model import check_waveforms
from kasc.evaluation.run_evaluation import evaluate_run
from kasc.files.atomic import read_json, write_json
from kasc.files.runs import RunDir
from kasc.training.inputs import TrainingData
from kasc.training.messages import TrainingError, say
from kasc.training.runtime import resolve_mixed_precision


def export_and_audit(cfg: ExperimentConfig, run: RunDir, model, splits, logmel) -> dict:
    """float32/int8 TFLite + audit, and the waveform-in int8 model checked on the validation
    clips; the int8 audit and the front end's cost are also written to ``complexity.json``."""
    representative = sample_logmel(splits["train"], logmel, 200, seed=cfg.train.seed)
    check = sample_logmel(splits["valid"], logmel, 100, seed=cfg.train.seed + 1)
    waveform = (cfg.features, cfg.data.sample_rate, check_waveforms(splits["valid"], seed=cfg.train.seed + 1))
    result = export_model(model, run.path, "model", representative, check, write_audits=False, waveform=waveform,
                          waveform_optional=True)
    result["per_second"] = per_second_complexity(cfg, model, result["audits"]["int8"])
    # one verdict: the per-second one (each file's audit at its own input length has none)
    audits = {kind: {k: v for k, v in result["audits"][kind].items() if k != "within_limits"}
              for kind in ("int8", "float32")}
    front_end = {"front_end": result["audits"]["front_end"]} if "front_end" in result["audits"] else {}
    write_json(run.complexity_file, {"dcase2023_limits": result["per_second"], **audits, **front_end})
    return result


def quantization_aware_training(cfg: ExperimentConfig, run: RunDir, verbose: int) -> None:
    """Phase 7 (``train.qat_epochs`` > 0): ``python -m kasc.qat`` in its own process
    (tensorflow-model-optimization changes what ``tf.keras`` means process-wide), unless
    ``qat.json`` already holds a QAT of the same epochs and learning rate.

    Raises:
      TrainingError: QAT failed (its error is shown above).
    """
    done = read_json(run.qat_file)
    if (done.get("epochs"), done.get("learning_rate")) == (cfg.train.qat_epochs, cfg.train.qat_learning_rate):
        say(f"{cfg.name}: QAT already done ({run.qat_file}: int8 accuracy {done['qat_int8']['accuracy']:.3f})")
        return
    command = [sys.executable, "-m", "kasc.qat", str(run.path), "--epochs", str(cfg.train.qat_epochs),
               "--learning-rate", repr(cfg.train.qat_learning_rate), "--verbose", str(verbose)]
    if subprocess.run(command).returncode != 0:
        raise TrainingError(f"{cfg.name}: quantization-aware training failed ({' '.join(command[1:])})")


def finish(cfg: ExperimentConfig, run: RunDir, student, data: TrainingData, started: float,
           distillation: dict | None = None) -> dict:
    """Phase 6: save ``model.keras``, export and audit int8 TFLite (``train.export``),
    evaluate on the validation split, write ``metrics.json`` (``finished``; ``distillation``:
    the teachers' check, ``kasc.training.teachers.check.distillation_record``); return it.

    Raises:
      TrainingError: the int8 model exceeds the DCASE 2023 limits (``model.check_limits``).
    """
    valid_data = data.splits["valid"]
    try:
        require_finite_model(student)
    except NonFiniteModel as err:
        raise TrainingError(f"{cfg.name}: {err}; run again with --restart after fixing the settings") from None
    run.save_model(student)

    summary = {"run": cfg.name, "epochs": cfg.train.epochs, "train_seconds": run.state().get("train_seconds", 0.0),
               "mixed_precision": resolve_mixed_precision(cfg.train.mixed_precision)}
    if cfg.train.export:
        result = export_and_audit(cfg, run, student, data.splits, data.logmel)
        limits, check = result["per_second"], result["report"]["int8"]
        verdict = "PASS" if limits["within_limits"] else "FAIL"
        say(f"int8 TFLite: {limits['param_bytes']:,} parameter bytes, {limits['macs_per_second']:,} MACs per 1 s "
            f"({limits['macs_basis']}): DCASE 2023 limits {verdict}; top-1 agreement with Keras "
            f"{check['top1_agreement']:.1%} on {check['clips']} clips")
        wave = result["report"]["waveform_int8"]
        if wave.get("written", True):
            say(f"waveform-in int8 TFLite ({wave['file_bytes']:,} bytes, front end inside: "
                f"{wave['front_end']['macs_per_second']:,} MACs per 1 s, {wave['front_end']['param_bytes']:,} bytes): "
                f"top-1 agreement with the int8 network on kasc's front end {wave['top1_agreement']:.1%} on "
                f"{wave['clips']} validation clips, largest probability difference {wave['max_abs_prob_diff']:.4f}")
        else:  # the deployable extra; the run's models and scores stand without it
            say(f"{cfg.name}: note: the waveform-in model was not written ({wave['reason']}); model.keras and "
                f"model_int8.tflite are. python -m kasc.export {run.path} --waveform-only tries again")
        summary["complexity"] = limits
    write_json(run.metrics_file, summary)
    say(f"{cfg.name}: evaluation on the validation split ({len(valid_data)} clips)")
    metrics = evaluate_run(run, cfg, valid_data, int8=cfg.train.export, batch_size=cfg.train.batch_size,
                           trained_on=data.validation_clips_trained_on)
    if distillation:
        metrics["distillation"] = distillation
    metrics.update({"session_seconds": round(time.monotonic() - started, 1), "finished": True})
    write_json(run.metrics_file, metrics)
    say(f"{cfg.name}: {'' if metrics['held_out'] else 'NOT HELD OUT (scored on training clips): '}"
        f"validation accuracy {metrics['accuracy']:.3f}, class-macro accuracy "
        f"{metrics['macro_class_accuracy']:.3f}, log loss {metrics['log_loss']:.3f}"
        + (f"; int8 accuracy {metrics['int8']['accuracy']:.3f}" if "int8" in metrics else "")
        + (f"; top-1 agreement with the teachers {metrics['teacher_agreement']:.3f}"
           if "teacher_agreement" in metrics else ""))
    say(f"{cfg.name}: outputs in {run.path} ({', '.join(run.outputs())})")
    if distillation:
        say(f"{cfg.name}: {distillation['given']}")
    if cfg.train.export and cfg.model.check_limits and not summary["complexity"]["within_limits"]:
        raise TrainingError(f"{cfg.name}: the int8 model exceeds the DCASE 2023 limits (see {run.complexity_file})")
    return metrics
