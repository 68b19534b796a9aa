"""Phases 4 and 5 of a run: the ``Distiller`` around the student, and fitting it from
its last checkpoint with kasc's callbacks."""

from __future__ import annotations

import keras

from kasc.config import ExperimentConfig
from kasc.data.pipeline import steps_per_epoch, Pipeline
from kasc.files.runs import RunDir
from kasc.training.callbacks import EpochCheckpoint, LearningRateLogger, NanGuard, ValidationDetails
from kasc.training.distill import Distiller
from kasc.training.distribute import agreed, worker_role
from kasc.training.inputs import TrainingData, distributed_training_dataset
from kasc.training.messages import TrainingError, say
from kasc.training.network import batchnorm_frozen, build_network, freeze_batchnorm, init_from
from kasc.training.schedules import ExpWarmupLinearDecay, fitted_to_run
from kasc.training.teachers.targets import SoftTargets
from kasc.training.weight_average import AveragedWeightsForValidation, averaging_optimizer, load_averaged_weights


def build_distiller(cfg: ExperimentConfig, data: TrainingData, targets: SoftTargets):
    """Phase 4: the student (``train.init_from`` weights if set) in a compiled
    :class:`~kasc.training.distill.Distiller` with Adam, weight decay and the report's schedule,
    its optimiser slots built (so that a checkpoint can be loaded)."""
    distill, schedule_cfg = cfg.distill, cfg.train
    student = build_network(cfg.model, cfg.features, cfg.data, len(data.class_names))
    if cfg.train.init_from:
        say(init_from(student, cfg.train.init_from))
    if batchnorm_frozen(cfg.train.batchnorm, bool(cfg.train.init_from)):
        frozen = freeze_batchnorm(student)
        if frozen:
            say(f"train.batchnorm {cfg.train.batchnorm}: {frozen} batch-normalisation layers in inference mode "
                f"(running statistics, scale and shift kept)")
    distiller = Distiller(student, targets.teachers, distill.teacher_weights, distill.temperature,
                          distill.label_weight if targets.distilled else 1.0, name="distiller")
    steps = steps_per_epoch(len(data.splits["train"]), cfg.train.batch_size)
    warmup, decay_end, note = fitted_to_run(schedule_cfg.epochs, schedule_cfg.warmup_epochs,
                                            schedule_cfg.decay_end_epoch)
    if note:
        say(note)
    schedule = ExpWarmupLinearDecay(steps, schedule_cfg.learning_rate, warmup, decay_end,
                                    schedule_cfg.final_learning_rate)
    averaged = schedule_cfg.ema_momentum > 0
    optimizer = keras.optimizers.Adam(learning_rate=schedule, weight_decay=schedule_cfg.weight_decay,
                                      use_ema=averaged, ema_momentum=schedule_cfg.ema_momentum if averaged else 0.99)
    distiller.compile(optimizer=optimizer)
    distiller.build_for_training(student.input_shape[1:])
    return distiller


def fit_or_resume(cfg: ExperimentConfig, run: RunDir, distiller, data: TrainingData, targets: SoftTargets,
                  verbose: int) -> None:
    """Phase 5: load the checkpoint if there is one, then ``fit`` the remaining epochs
    (checkpoint, CSV log, TensorBoard and validation details after every epoch; under
    several workers, only the chief writes the validation details). With
    ``train.ema_momentum`` the validation scores, and the network ends as, the moving
    average of the weights (:mod:`kasc.training.weight_average`).

    Raises:
      TrainingError: the loss became non-finite (the checkpoint keeps the last good epoch).
      kasc.training.distribute.StrategyError: workers would resume from different epochs.
    """
    train_data, valid_data = data.splits["train"], data.splits["valid"]
    student = distiller.student
    state = run.state(cfg.train.epochs)
    start_epoch = agreed(distiller.distribute_strategy, int(state.get("epoch", 0)), "the epoch to resume after")
    role = worker_role(cfg.train.strategy)
    if start_epoch:
        run.load_checkpoint(distiller)
        say(f"resuming {run.path} after epoch {start_epoch} of {cfg.train.epochs}")
    run.trim_log(start_epoch)  # rows of epochs after the checkpoint are trained again
    if start_epoch >= cfg.train.epochs:  # killed after the last checkpoint, before the model was saved
        if averaging_optimizer(distiller.optimizer) is not None:  # what fit would have done at its end
            load_averaged_weights(distiller.optimizer)
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
    ]
    if averaging_optimizer(distiller.optimizer) is not None:  # after the details, before the checkpoint
        callbacks.append(AveragedWeightsForValidation())
    callbacks.append(EpochCheckpoint(run, float(state.get("train_seconds", 0.0))))
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
