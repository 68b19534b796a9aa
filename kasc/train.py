"""Train a named experiment: ``python -m kasc.train NAME [--profile fast] [--set KEY=VALUE]``.

A run trains the teachers it names first (or reuses their finished runs), distils or
trains its network, evaluates it on the validation split, exports and audits it, and
leaves everything in ``saved_models/<NAME>`` (``saved_models/<NAME>-<profile>`` with a
profile; see ``kasc.files.runs`` for the files). Running the same command again resumes an
interrupted run from its last finished epoch, or reports that it has finished.

Examples:
  python -m kasc.train submission3 --profile fast     # minutes, on the shared mini set
  python -m kasc.train submission3                    # the report's run (800 epochs)
  python -m kasc.train plain_student --set train.epochs=50 --run-dir saved_models/try1
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from kasc.config import (ConfigError, ExperimentConfig, changed_settings, load_config, parse_teacher, resolve_path,
                         teacher_run_name)
from kasc.files.atomic import DiskFullError, is_disk_full, read_json, write_json
from kasc.training.distribute import STRATEGIES, StrategyError
from kasc.files.interrupts import Interrupted, interruptible
from kasc.files.locks import LockBusy
from kasc.files.runs import CorruptCheckpoint, RunConfigMismatch, RunDir, default_run_dir
from kasc.training.runtime import quiet_expected_retracing, set_cpu_threads
from kasc.complexity import per_second_complexity  # noqa: F401 (kasc.train.per_second_complexity, as before)
from kasc.data.preflight import check_paths



class TrainingError(RuntimeError):
    """Training cannot go on (diverged, a teacher does not fit the data, ...)."""


def say(message: str) -> None:
    """A one-line stage summary."""
    print(f"[kasc.train] {message}", flush=True)


def input_shape_for(cfg: ExperimentConfig, architecture: str) -> tuple:
    """(frames, mels, 1): frames left free (None) unless the network needs a fixed size."""
    from kasc.data.features import frames_for
    from kasc.models import FIXED_INPUT_ARCHITECTURES

    frames = frames_for(cfg.features, cfg.data.clip_samples)
    return (frames if architecture in FIXED_INPUT_ARCHITECTURES else None, cfg.features.n_mels, 1)


def build_network(cfg: ExperimentConfig, n_classes: int):
    """The config's network, with ``model.params`` passed to its builder."""
    from kasc.models import build_model

    params = cfg.model.params or {}
    if not isinstance(params, dict):
        raise ConfigError(f"model.params must be a mapping of builder arguments, got {params!r}")
    try:
        return build_model(cfg.model.architecture, input_shape_for(cfg, cfg.model.architecture), n_classes, **params)
    except TypeError as err:
        raise ConfigError(f"model.params {params} do not fit '{cfg.model.architecture}': {err}") from err


def init_from(model, source: str) -> str:
    """Load the weights of an earlier run (folder or .keras file) or a pretrained EfficientAT
    ``.npz`` into ``model`` (``kasc.models.pretrained``). Returns a summary; a file with no
    matching layer is an error."""
    from kasc.models.pretrained import load_pretrained

    _, path = RunDir.locate(resolve_path(source))  # a run folder means its model.keras
    try:
        result = load_pretrained(model, path)
    except FileNotFoundError as err:
        raise ConfigError(f"train.init_from: {err}") from None
    except ValueError as err:
        raise TrainingError(f"train.init_from: {err}") from None
    skipped = result["skipped"]
    return (f"init_from {path}: {len(result['loaded'])} layers copied"
            + (f", {len(skipped)} kept fresh ({', '.join(skipped[:4])}{'...' if len(skipped) > 4 else ''})"
               if skipped else ""))


def export_and_audit(cfg: ExperimentConfig, run: RunDir, model, splits, logmel) -> dict:
    """float32/int8 TFLite + audit, and the waveform-in int8 model checked on the validation
    clips; the int8 audit and the front end's cost are also written to ``complexity.json``."""
    from kasc.deployment.tflite_export import export_model, sample_logmel
    from kasc.deployment.waveform_model import check_waveforms

    representative = sample_logmel(splits["train"], logmel, 200, seed=cfg.train.seed)
    check = sample_logmel(splits["valid"], logmel, 100, seed=cfg.train.seed + 1)
    waveform = (cfg.features, cfg.data.sample_rate, check_waveforms(splits["valid"], seed=cfg.train.seed + 1))
    result = export_model(model, run.path, "model", representative, check, write_audits=False, waveform=waveform)
    result["per_second"] = per_second_complexity(cfg, model, result["audits"]["int8"])
    # one verdict: the per-second one (each file's audit at its own input length has none)
    audits = {kind: {k: v for k, v in result["audits"][kind].items() if k != "within_limits"}
              for kind in ("int8", "float32")}
    write_json(run.complexity_file, {"dcase2023_limits": result["per_second"], **audits,
                                     "front_end": result["audits"]["front_end"]})
    return result


def train(cfg: ExperimentConfig, run: RunDir, profile: str | None = None, restart: bool = False,
          verbose: int = 1, wait_for_folder: bool = False) -> dict:
    """Train ``cfg`` into ``run`` (resuming if possible); return the metrics written.

    The run folder is held by this process throughout (``RunDir.owned``): another
    process working there makes this one stop at once (``kasc.files.locks.LockBusy``), or
    wait with ``wait_for_folder``. The phases, each a function below: data, teachers,
    soft targets, distiller, fit (or resume), finish, QAT; the distiller (and online
    teachers) are built in the scope of ``train.strategy``. Under ``multi_worker``,
    only the chief holds and writes ``run``; the other workers work on copies of it
    (``kasc.training.distribute``) and return the chief's metrics.
    """
    import keras

    from kasc.training.distribute import agreed, make_strategy, worker_folder, worker_role

    strategy = make_strategy(cfg.train.strategy, cfg.train.devices)
    role = worker_role(cfg.train.strategy)
    chief_run = run
    with run.owned(wait=wait_for_folder, say=say) if role.is_chief else contextlib.nullcontext():
        if role.is_chief:
            run.start(cfg, restart=restart)
        agreed(strategy, 0, "the start of the run")  # barrier: the chief's folder is ready
        if not role.is_chief:
            run = chief_run.copy_into(worker_folder(role, chief_run.path.name))
            say(f"worker {role.index} of {role.count}: {chief_run.path} copied to {run.path}")
        if run.is_finished():
            metrics = run.metrics()
            say(f"{cfg.name}: already finished in {chief_run.path} (accuracy {metrics['accuracy']:.3f}); "
                f"--restart trains it again")
        else:
            started = time.monotonic()
            keras.utils.set_random_seed(cfg.train.seed)
            data = prepare_data(cfg, verbose)
            teacher_runs = (prepare_teachers(cfg, run, profile, data.class_names, verbose, chief_run.path.parent,
                                             valid_table=data.splits["valid"].table)
                            if cfg.distill.teachers else [])
            targets = prepare_soft_targets(cfg, data, teacher_runs, verbose, strategy)
            # seeded after the soft targets: loading a teacher draws random initial values, and
            # whether a process loads one depends on whether the cache entry existed
            keras.utils.set_random_seed(cfg.train.seed)
            with strategy.scope(), dtype_policy(cfg.train.mixed_precision):  # kasc.training.distribute
                distiller = build_distiller(cfg, data, targets)
            fit_or_resume(cfg, run, distiller, data, targets, verbose)
            metrics = finish(cfg, run, distiller.student, data, started) if role.is_chief else {}
        agreed(strategy, 0, "the end of the run")  # barrier: the chief has written its results
        if not role.is_chief:
            metrics = chief_run.metrics()
    if cfg.train.qat_epochs and role.is_chief:
        quantization_aware_training(cfg, run, verbose)
    return metrics


def quantization_aware_training(cfg: ExperimentConfig, run: RunDir, verbose: int) -> None:
    """Phase 7 (``train.qat_epochs`` > 0): ``python -m kasc.qat`` in its own process
    (tensorflow-model-optimization changes what ``tf.keras`` means process-wide), unless
    ``qat.json`` already holds a QAT of the same epochs and learning rate.

    Raises:
      TrainingError: QAT failed (its error is shown above).
    """
    import subprocess

    done = read_json(run.qat_file)
    if (done.get("epochs"), done.get("learning_rate")) == (cfg.train.qat_epochs, cfg.train.qat_learning_rate):
        say(f"{cfg.name}: QAT already done ({run.qat_file}: int8 accuracy {done['qat_int8']['accuracy']:.3f})")
        return
    command = [sys.executable, "-m", "kasc.qat", str(run.path), "--epochs", str(cfg.train.qat_epochs),
               "--learning-rate", repr(cfg.train.qat_learning_rate), "--verbose", str(verbose)]
    if subprocess.run(command).returncode != 0:
        raise TrainingError(f"{cfg.name}: quantization-aware training failed ({' '.join(command[1:])})")


@contextlib.contextmanager
def dtype_policy(mixed_precision: str):
    """Build the student under ``train.mixed_precision`` (``none``: float32; ``auto``
    resolved for this CPU), then restore
    the previous global policy (teachers, export and evaluation are unaffected)."""
    import keras

    from kasc.training.runtime import resolve_mixed_precision

    previous = keras.mixed_precision.global_policy()
    policy = resolve_mixed_precision(mixed_precision)
    keras.mixed_precision.set_global_policy("float32" if policy == "none" else policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@dataclasses.dataclass
class TrainingData:
    """The decoded splits and the front end of a run."""

    splits: dict  # "train" / "valid" -> kasc.data.pipeline.SplitData
    logmel: object  # kasc.data.features.LogMel

    @property
    def class_names(self) -> list[str]:
        return self.splits["train"].class_names


@dataclasses.dataclass
class SoftTargets:
    """How the student gets its soft targets: carried with the batches (``extra``, cached
    teacher outputs), from teachers run on every batch (``teachers``, online), or neither."""

    extra: dict
    teachers: list
    distilled: bool


def prepare_data(cfg: ExperimentConfig, verbose: int) -> TrainingData:
    """Phase 1: read and decode the training and validation splits (audio cache)."""
    from kasc.data.pipeline import prepare_splits
    from kasc.data.features import LogMel

    splits = prepare_splits(cfg, progress=verbose > 0)
    data = TrainingData(splits, LogMel(cfg.features, cfg.data.sample_rate))
    say(f"{cfg.name}: {len(splits['train'])} training / {len(splits['valid'])} validation clips, "
        f"{len(data.class_names)} classes, features {data.logmel.output_shape(cfg.data.clip_samples)}")
    return data


def prepare_teachers(cfg: ExperimentConfig, run: RunDir, profile: str | None, class_names: list[str],
                     verbose: int, runs_dir: Path | None = None, valid_table=None) -> list[RunDir]:
    """Phase 2: train (or reuse) each teacher run of ``distill.teachers`` in ``runs_dir``
    (default: beside the student's run; a multi-worker run's other workers pass the
    chief's) as ``<name>[-<profile>]``, print them and their ensemble (the report's
    Table 2, also written to ``teachers.json``, and its validation predictions to
    ``teachers_valid.csv``); return their run folders.

    Raises:
      DatasetError: a teacher's training split holds a clip of ``valid_table`` (the
        student's validation split), unless the student's ``data.allow_overlap``.
    """
    from kasc.evaluate import ensemble_report
    from kasc.evaluation.metrics import summary

    runs_dir = runs_dir or run.path.parent
    # teachers run under the student's distribution settings (the process's strategy)
    execution = {"strategy": cfg.train.strategy, "devices": cfg.train.devices}
    teacher_set = cfg.distill.teacher_set or {}
    entries = [parse_teacher(entry) for entry in cfg.distill.teachers]  # (name, the entry's own settings)
    settings = [{**teacher_set, **own} or None for _, own in entries]
    teacher_cfgs = [dataclasses.replace(c, train=dataclasses.replace(c.train, **execution))
                    for c in (load_config(name, profile=profile, settings=more)
                              for (name, _), more in zip(entries, settings))]
    # a teacher's folder is named by the settings that change it (none: the teacher's own run)
    run_names = [teacher_run_name(c.name, changed_settings(load_config(name, profile=profile), c, more))
                 for (name, _), more, c in zip(entries, settings, teacher_cfgs)]
    if valid_table is not None and not cfg.data.allow_overlap:
        from kasc.data.datasets import load_split
        from kasc.data.table import require_disjoint

        for teacher_cfg in teacher_cfgs:  # a teacher that heard the validation clips would leak them
            require_disjoint(load_split(teacher_cfg.data, "train"), valid_table,
                             (f"teacher {teacher_cfg.name}'s training", "student's validation"),
                             f"distill.teachers{' with distill.teacher_set' if teacher_set else ''}")
    weights = cfg.distill.teacher_weights
    if cfg.distill.cross_fit_parts:  # kasc.training.cross_fit: each teacher once per held-out part
        from kasc.training.cross_fit import held_out_configs, member_weights, require_same_training_clips
        from kasc.data.datasets import full_training_table

        student_table = full_training_table(cfg.data)
        for teacher_cfg in teacher_cfgs:
            require_same_training_clips(cfg, student_table, teacher_cfg)
        run_names = [f"{c.name}{run_name[len(teacher_cfg.name):]}" for teacher_cfg, run_name in zip(teacher_cfgs, run_names)
                     for c in held_out_configs(cfg, teacher_cfg)]
        teacher_cfgs = [c for teacher_cfg in teacher_cfgs for c in held_out_configs(cfg, teacher_cfg)]
        weights = member_weights(weights, len(cfg.distill.teachers), cfg.distill.cross_fit_parts)
    teacher_runs = []
    for teacher_cfg, run_name in zip(teacher_cfgs, run_names):
        teacher_run = RunDir(runs_dir / default_run_dir(dataclasses.replace(teacher_cfg, name=run_name), profile).name)
        say(f"teacher {teacher_cfg.name}: {teacher_run.path}")
        # reuses a finished run of the same config; waits if another student is training it
        train(teacher_cfg, teacher_run, profile=profile, verbose=verbose, wait_for_folder=True)
        teacher_classes = teacher_run.metrics().get("class_names")
        if teacher_classes != class_names:
            raise TrainingError(f"teacher run {teacher_run.path} predicts classes {teacher_classes}, "
                                f"the student's data has {class_names}")
        teacher_runs.append(teacher_run)
    say("teachers and their ensemble on the teachers' validation split (report Table 2):")
    table = ensemble_report(teacher_runs, weights, batch_size=cfg.train.batch_size,
                            predictions_file=run.teacher_predictions_file)
    write_json(run.teachers_file, {name: {**summary(r), "per_class_accuracy": r["per_class_accuracy"]}
                                   for name, r in table.items()})
    return teacher_runs


def prepare_soft_targets(cfg: ExperimentConfig, data: TrainingData, teacher_runs: list[RunDir],
                         verbose: int, strategy=None) -> SoftTargets:
    """Phase 3: the teachers' soft targets, cached per training clip (``distill.soft_targets:
    cached``, ``kasc.training.soft_targets``; computed outside ``strategy``, by whichever process
    takes the cache entry first: under several workers on shared storage, once), or the
    teacher models for online targets (loaded in the scope of ``strategy``)."""
    from kasc.models.ensemble import tempered_average
    from kasc.training.soft_targets import cached_teacher_logits
    from kasc.training.targets import SOFT_TARGETS

    distill = cfg.distill
    if not teacher_runs:
        return SoftTargets({}, [], distilled=False)
    if cfg.augment.views:  # kasc.data.views: every teacher labels every view the student will hear
        from kasc.training.soft_targets import cached_view_logits

        plan, files = view_plan(cfg, data.splits["train"])
        logits = [cached_view_logits(cfg, data.splits["train"], teacher.model_file, plan, files, progress=verbose > 0)
                  for teacher in teacher_runs]
        shape = logits[0].shape
        soft = np.asarray(tempered_average([z.reshape(-1, shape[-1]) for z in logits], distill.temperature,
                                           distill.teacher_weights)).reshape(shape)
        say(f"soft targets: logits of {len(logits)} teacher(s) on {plan.views} views of each training clip "
            f"(consistent: the audio the student hears), T = {distill.temperature}")
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)
    if distill.soft_targets == "cached" and distill.cross_fit_parts:
        logits = cross_fitted_teacher_logits(cfg, data.splits["train"], teacher_runs, verbose)
        say(f"soft targets: cross-fitted logits of {len(logits)} teacher(s) ({distill.cross_fit_parts} held-out runs "
            f"each), T = {distill.temperature}")
        soft = np.asarray(tempered_average(logits, distill.temperature, distill.teacher_weights))
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)
    if distill.soft_targets == "cached":
        logits = [cached_teacher_logits(cfg, data.splits["train"], teacher.model_file, progress=verbose > 0)
                  for teacher in teacher_runs]
        say(f"soft targets: cached logits of {len(logits)} teacher(s), T = {distill.temperature}")
        soft = np.asarray(tempered_average(logits, distill.temperature, distill.teacher_weights))
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)
    from kasc.models import load_model

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        teachers = [load_model(teacher.model_file) for teacher in teacher_runs]
    say(f"soft targets: {len(teachers)} teacher(s) online, T = {distill.temperature}")
    return SoftTargets({}, teachers, distilled=True)


def cross_fitted_teacher_logits(cfg: ExperimentConfig, train_data, teacher_runs: list[RunDir],
                                verbose: int) -> list[np.ndarray]:
    """Each teacher's logits (n_clips, C) on the training clips, every clip's from the run
    of that teacher that held out its part (``kasc.training.cross_fit``); ``teacher_runs`` holds
    ``distill.cross_fit_parts`` runs per teacher, teacher-major. Cached per run and part."""
    from kasc.training.cross_fit import cross_fitted_logits
    from kasc.data.datasets import full_training_table
    from kasc.data.parts import clip_parts
    from kasc.training.soft_targets import cached_teacher_logits

    parts = cfg.distill.cross_fit_parts
    part_of_clip = clip_parts(train_data.table, parts, whole=full_training_table(cfg.data))
    say(f"cross-fitting: {parts} parts of {', '.join(str(int((part_of_clip == k).sum())) for k in range(1, parts + 1))} "
        f"training clips (grouped by recording)")
    out = []
    for first in range(0, len(teacher_runs), parts):
        per_part = [cached_teacher_logits(cfg, train_data, teacher_runs[first + k - 1].model_file,
                                          progress=verbose > 0, rows=np.flatnonzero(part_of_clip == k))
                    if (part_of_clip == k).any() else np.zeros((0, len(train_data.class_names)), np.float32)
                    for k in range(1, parts + 1)]
        out.append(cross_fitted_logits(part_of_clip, per_part))
    return out


def build_distiller(cfg: ExperimentConfig, data: TrainingData, targets: SoftTargets):
    """Phase 4: the student (``train.init_from`` weights if set) in a compiled
    :class:`~kasc.training.distill.Distiller` with Adam, weight decay and the report's schedule,
    its optimiser slots built (so that a checkpoint can be loaded)."""
    import keras

    from kasc.data.pipeline import steps_per_epoch
    from kasc.training.distill import Distiller
    from kasc.training.schedules import ExpWarmupLinearDecay, fitted_to_run

    distill, schedule_cfg = cfg.distill, cfg.train
    student = build_network(cfg, len(data.class_names))
    if cfg.train.init_from:
        say(init_from(student, cfg.train.init_from))
    distiller = Distiller(student, targets.teachers, distill.teacher_weights, distill.temperature,
                          distill.label_weight if targets.distilled else 1.0, name="distiller")
    steps = steps_per_epoch(len(data.splits["train"]), cfg.train.batch_size)
    warmup, decay_end, note = fitted_to_run(schedule_cfg.epochs, schedule_cfg.warmup_epochs,
                                            schedule_cfg.decay_end_epoch)
    if note:
        say(note)
    schedule = ExpWarmupLinearDecay(steps, schedule_cfg.learning_rate, warmup, decay_end,
                                    schedule_cfg.final_learning_rate)
    distiller.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule, weight_decay=schedule_cfg.weight_decay))
    distiller.build_for_training(student.input_shape[1:])
    return distiller


def view_plan(cfg: ExperimentConfig, train_data):
    """The training clips' views (``augment.views``, ``kasc.data.views``) and the
    impulse-response files their DIR draws index (empty without ``augment.dir_prob``)."""
    from kasc.data.views import plan_for

    files = []
    if cfg.augment.dir_prob > 0:
        from kasc.data.impulse_responses import response_files

        files = response_files(resolve_path(cfg.augment.dir_folder), cfg.augment.dir_subset)
    return plan_for(cfg.augment, len(train_data), len(files)), files


def training_dataset(cfg: ExperimentConfig, train_data, logmel, extra_targets: dict, start_epoch: int,
                     verbose: int, shard: tuple[int, int, int] = (1, 0, 1)):
    """The run's endless augmented training stream from ``start_epoch``: batches gather the
    cached log-mel (``data.cache_logmel``), or compute it per batch from waveforms convolved
    with device impulse responses (``augment.dir_prob``); ``shard`` as in
    ``Pipeline.training`` (this worker's parts of each global batch)."""
    from kasc.data.pipeline import Pipeline

    spectra, responses, plan = None, None, None
    if cfg.augment.views:
        plan, files = view_plan(cfg, train_data)
        if files:
            from kasc.data.impulse_responses import load_responses

            responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
        say(f"views: {plan.views} per clip (mixup p = {cfg.augment.mixup_prob}, shift p = {cfg.augment.shift_prob}, "
            f"gain +-{cfg.augment.gain_db:g} dB, DIR p = {cfg.augment.dir_prob}); epoch e trains on view e mod "
            f"{plan.views}; log-mel computed per batch")
    elif cfg.augment.dir_prob > 0:  # waveform augmentation: the log-mel is computed per batch
        from kasc.data.impulse_responses import load_responses, response_files

        files = response_files(resolve_path(cfg.augment.dir_folder), cfg.augment.dir_subset)
        responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
        say(f"DIR augmentation: {len(files)} impulse responses ({cfg.augment.dir_subset} of {cfg.augment.dir_folder}), "
            f"p = {cfg.augment.dir_prob}; log-mel computed per batch")
    elif cfg.data.cache_logmel:
        from kasc.data.logmel_cache import cached_logmel

        spectra = cached_logmel(train_data.waveforms, logmel, resolve_path(cfg.data.cache_dir).parent / "logmel",
                                name=f"{cfg.name}/train", progress=verbose > 0)
    return Pipeline(train_data, logmel, cfg.train.batch_size, extra_targets, spectra, responses, plan).training(
        cfg.augment, seed=cfg.train.seed, start_epoch=start_epoch, shard=shard)


def distributed_training_dataset(cfg: ExperimentConfig, strategy, train_data, logmel, extra_targets: dict,
                                 start_epoch: int, verbose: int):
    """The training stream for ``fit``: as :func:`training_dataset` on one worker; under
    several workers, each worker's pipeline makes only its replicas' parts of every
    global batch (``tf.distribute`` hands them out in order)."""
    from kasc.training.distribute import in_multi_worker_mode

    if not in_multi_worker_mode(strategy):
        return training_dataset(cfg, train_data, logmel, extra_targets, start_epoch, verbose)
    replicas = strategy.num_replicas_in_sync

    def worker_stream(context):
        local = replicas // context.num_input_pipelines
        return training_dataset(cfg, train_data, logmel, extra_targets, start_epoch, verbose,
                                shard=(replicas, context.input_pipeline_id * local, local))

    return strategy.distribute_datasets_from_function(worker_stream)


def fit_or_resume(cfg: ExperimentConfig, run: RunDir, distiller, data: TrainingData, targets: SoftTargets,
                  verbose: int) -> None:
    """Phase 5: load the checkpoint if there is one, then ``fit`` the remaining epochs
    (checkpoint, CSV log, TensorBoard and validation details after every epoch; under
    several workers, only the chief writes the validation details).

    Raises:
      TrainingError: the loss became non-finite (the checkpoint keeps the last good epoch).
      kasc.training.distribute.StrategyError: workers would resume from different epochs.
    """
    import keras

    from kasc.training.distribute import agreed, worker_role

    from kasc.training.callbacks import EpochCheckpoint, LearningRateLogger, NanGuard, ValidationDetails
    from kasc.data.pipeline import Pipeline, steps_per_epoch

    train_data, valid_data = data.splits["train"], data.splits["valid"]
    student = distiller.student
    state = run.state()
    start_epoch = agreed(distiller.distribute_strategy, int(state.get("epoch", 0)), "the epoch to resume after")
    role = worker_role(cfg.train.strategy)
    if start_epoch:
        run.load_checkpoint(distiller)
        say(f"resuming {run.path} after epoch {start_epoch} of {cfg.train.epochs}")
    run.trim_log(start_epoch)  # rows of epochs after the checkpoint are trained again
    if start_epoch >= cfg.train.epochs:  # killed after the last checkpoint, before the model was saved
        return
    train_ds = distributed_training_dataset(cfg, distiller.distribute_strategy, train_data, data.logmel,
                                            targets.extra, start_epoch, verbose)
    valid_ds = Pipeline(valid_data, data.logmel, cfg.train.batch_size).evaluation()
    steps = steps_per_epoch(len(train_data), cfg.train.batch_size)
    nan_guard = NanGuard()
    callbacks = [
        nan_guard,
        LearningRateLogger(),
        keras.callbacks.CSVLogger(str(run.log_csv), append=start_epoch > 0),
        keras.callbacks.TensorBoard(str(run.tensorboard_dir), update_freq="epoch"),
        ValidationDetails(student, valid_data, data.logmel, run.tensorboard_dir,
                          cfg.train.details_every if role.is_chief else 0, cfg.train.batch_size),
        EpochCheckpoint(run, float(state.get("train_seconds", 0.0))),
    ]
    say(f"training {student.name} ({student.count_params():,} parameters) for epochs "
        f"{start_epoch + 1}..{cfg.train.epochs}, {steps} steps each; TensorBoard: {run.tensorboard_dir}")
    distiller.fit(train_ds, epochs=cfg.train.epochs, initial_epoch=start_epoch, steps_per_epoch=steps,
                  validation_data=valid_ds, callbacks=callbacks, verbose=verbose, shuffle=False)
    if nan_guard.where is not None:
        w = nan_guard.where
        where = f"epoch {w['epoch']}" + (f", batch {w['batch']}" if w["batch"] else " (at its end)")
        raise TrainingError(
            f"{cfg.name}: {w['what']} at {where} (learning rate {w['learning_rate']:.3g}); the checkpoint keeps "
            f"epoch {run.state().get('epoch', 0)}, the last one with finite values. Lower train.learning_rate or "
            f"check the data and settings, then run again (or --restart).")


def finish(cfg: ExperimentConfig, run: RunDir, student, data: TrainingData, started: float) -> dict:
    """Phase 6: save ``model.keras``, export and audit int8 TFLite (``train.export``),
    evaluate on the validation split, write ``metrics.json`` (``finished``); return it.

    Raises:
      TrainingError: the int8 model exceeds the DCASE 2023 limits (``model.check_limits``).
    """
    from kasc.evaluate import evaluate_run

    from kasc.deployment.tflite_export import NonFiniteModel, require_finite_model

    valid_data = data.splits["valid"]
    try:
        require_finite_model(student)
    except NonFiniteModel as err:
        raise TrainingError(f"{cfg.name}: {err}; run again with --restart after fixing the settings") from None
    run.save_model(student)
    from kasc.training.runtime import resolve_mixed_precision

    summary = {"run": cfg.name, "epochs": cfg.train.epochs, "train_seconds": run.state().get("train_seconds", 0.0),
               "mixed_precision": resolve_mixed_precision(cfg.train.mixed_precision)}
    if cfg.train.export:
        from kasc.deployment.waveform_model import WaveformExportError

        try:
            result = export_and_audit(cfg, run, student, data.splits, data.logmel)
        except WaveformExportError as err:
            raise TrainingError(f"{cfg.name}: {err}; model.keras and model_int8.tflite are written, the waveform "
                                f"model is not") from None
        limits, check = result["per_second"], result["report"]["int8"]
        verdict = "PASS" if limits["within_limits"] else "FAIL"
        say(f"int8 TFLite: {limits['param_bytes']:,} parameter bytes, {limits['macs_per_second']:,} MACs per 1 s "
            f"({limits['macs_basis']}): DCASE 2023 limits {verdict}; top-1 agreement with Keras "
            f"{check['top1_agreement']:.1%} on {check['clips']} clips")
        wave = result["report"]["waveform_int8"]
        say(f"waveform-in int8 TFLite ({wave['file_bytes']:,} bytes, front end inside: "
            f"{wave['front_end']['macs_per_second']:,} MACs per 1 s, {wave['front_end']['param_bytes']:,} bytes): "
            f"top-1 agreement with the int8 network on kasc's front end {wave['top1_agreement']:.1%} on "
            f"{wave['clips']} validation clips, largest probability difference {wave['max_abs_prob_diff']:.4f}")
        summary["complexity"] = limits
    write_json(run.metrics_file, summary)
    say(f"{cfg.name}: evaluation on the validation split ({len(valid_data)} clips)")
    metrics = evaluate_run(run, cfg, valid_data, int8=cfg.train.export, batch_size=cfg.train.batch_size)
    metrics.update({"session_seconds": round(time.monotonic() - started, 1), "finished": True})
    write_json(run.metrics_file, metrics)
    say(f"{cfg.name}: validation accuracy {metrics['accuracy']:.3f}, class-macro accuracy "
        f"{metrics['macro_class_accuracy']:.3f}, log loss {metrics['log_loss']:.3f}"
        + (f"; int8 accuracy {metrics['int8']['accuracy']:.3f}" if "int8" in metrics else "")
        + (f"; top-1 agreement with the teachers {metrics['teacher_agreement']:.3f}"
           if "teacher_agreement" in metrics else ""))
    say(f"{cfg.name}: outputs in {run.path} (model.keras, metrics.json, confusion.png, predictions_valid.csv, "
        "training_log.csv, tensorboard/" + (", model_int8.tflite, complexity.json)" if cfg.train.export else ")"))
    if cfg.train.export and cfg.model.check_limits and not summary["complexity"]["within_limits"]:
        raise TrainingError(f"{cfg.name}: the int8 model exceeds the DCASE 2023 limits (see {run.complexity_file})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.train", description=describe(__doc__),
                                     epilog="Configs: " + ", ".join(sorted(p.stem for p in
                                                                         (Path(__file__).parent.parent / "configs").glob("*.yaml"))))
    parser.add_argument("config", help="config name (configs/NAME.yaml) or a YAML path")
    parser.add_argument("--profile", default=None, help="a profile of the config (e.g. 'fast')")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--run-dir", type=Path, default=None, help="output folder (default saved_models/NAME[-PROFILE])")
    parser.add_argument("--restart", action="store_true", help="discard an existing checkpoint and train from scratch")
    parser.add_argument("--verbose", type=int, default=None, help="Keras verbosity: 1 progress bar, 2 one line per epoch")
    parser.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="tf.distribute strategy (train.strategy); mirrored: every local GPU, or train.devices; "
                             "multi_worker: the processes of TF_CONFIG (start the command once per worker)")
    parser.add_argument("--split-cpu", type=int, default=0, metavar="N",
                        help="make N logical CPU devices /cpu:0../cpu:N-1 (try mirrored training without a GPU)")
    args = parser.parse_args(argv)
    if args.strategy:
        args.overrides = [*args.overrides, f"train.strategy={args.strategy}"]
    if args.split_cpu > 1:
        from kasc.training.distribute import split_cpu

        split_cpu(args.split_cpu)
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    try:
        cfg = load_config(args.config, args.overrides, args.profile)  # every value checked (kasc.config.validate)
        check_paths(cfg, str(args.config))
        run = RunDir(args.run_dir or default_run_dir(cfg, args.profile))
        set_cpu_threads(cfg.train.intra_op_threads, cfg.train.inter_op_threads)
        if cfg.features.measure_normalization:
            from kasc.data.normalization import with_measured_normalization

            cfg = with_measured_normalization(cfg, progress=verbose > 0)
            say(f"{cfg.name}: log-mel normalisation measured on the training clips: mean "
                f"{cfg.features.normalize_mean:g}, std {cfg.features.normalize_std:g} (written to {run.config_file})")
        quiet_expected_retracing()
        if cfg.train.strategy == "multi_worker":  # before TensorFlow starts its runtime
            from kasc.training.distribute import make_strategy

            make_strategy(cfg.train.strategy, cfg.train.devices)
        with interruptible():
            train(cfg, run, profile=args.profile, restart=args.restart, verbose=verbose)
    except Interrupted as err:
        try:
            kept = f"the checkpoint of {run.path} keeps epoch {run.state().get('epoch', 0)} of {cfg.train.epochs}"
        except (CorruptCheckpoint, NameError):  # stopped before the run folder was known
            kept = "finished epochs are kept in their checkpoints"
        print(f"interrupted by {err.name}: {kept}; run the same command again to resume", file=sys.stderr)
        return err.exit_code
    except (ConfigError, RunConfigMismatch, CorruptCheckpoint, TrainingError, LockBusy, DiskFullError,
            StrategyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as err:  # data errors name their file (DatasetError, AudioReadError)
        if not is_disk_full(err):
            if isinstance(err, RuntimeError):
                raise
            print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
        where = getattr(err, "filename", None) or "a file"
        print(f"error: no space left on device writing {where}; the last checkpoint is intact: free some "
              f"space, then run the same command again to resume", file=sys.stderr)
        return 2
    except Exception as err:
        from kasc.training.distribute import lost_a_worker

        if not lost_a_worker(err):
            raise
        unhealthy = [line.strip() for line in str(err).splitlines() if line.strip().startswith("/job:")]
        state = run.state()
        print(f"error: the multi-worker run lost a worker ({type(err).__name__}"
              + (f"; stopped: {', '.join(sorted(set(unhealthy)))}" if unhealthy else "")
              + f"); the checkpoint keeps epoch {state.get('epoch', 0)}: start every worker again to resume",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
