"""Phase 1 of a run: the decoded splits and the front end (:class:`TrainingData`), and the
``tf.data`` training pipelines built on them (single process or ``tf.distribute``)."""

from __future__ import annotations

import dataclasses
import functools

from kasc.config import ExperimentConfig, resolve_path
from kasc.data.features import LogMel
from kasc.data.impulse_responses import response_files, load_responses
from kasc.data.logmel_cache import cached_logmel
from kasc.data.pipeline import prepare_splits, Pipeline
from kasc.data.table import clips_heard
from kasc.data.views import plan_for
from kasc.evaluation.inference import in_multi_worker_mode
from kasc.training.messages import say


@dataclasses.dataclass
class TrainingData:
    """The decoded splits and the front end of a run."""

    splits: dict  # "train" / "valid" -> kasc.data.pipeline.SplitData
    logmel: object  # kasc.data.features.LogMel

    @property
    def class_names(self) -> list[str]:
        return self.splits["train"].class_names

    @functools.cached_property
    def validation_clips_trained_on(self) -> int:
        """Validation clips that share an audio file with the training split (0 unless
        ``data.allow_overlap``; then the validation scores are not held out)."""
        return clips_heard(self.splits["valid"].table, self.splits["train"].table)


def prepare_data(cfg: ExperimentConfig, verbose: int) -> TrainingData:
    """Phase 1: read and decode the training and validation splits (audio cache)."""
    splits = prepare_splits(cfg.data, progress=verbose > 0, label=cfg.name)
    data = TrainingData(splits, LogMel(cfg.features, cfg.data.sample_rate))
    say(f"{cfg.name}: {len(splits['train'])} training / {len(splits['valid'])} validation clips, "
        f"{len(data.class_names)} classes, features {data.logmel.output_shape(cfg.data.clip_samples)}")
    if data.validation_clips_trained_on:
        say(f"{cfg.name}: {data.validation_clips_trained_on} of the {len(splits['valid'])} validation clips are "
            f"training clips (data.allow_overlap): the validation scores are not held out")
    return data


def view_plan(cfg: ExperimentConfig, train_data):
    """The training clips' views (``augment.views``, ``kasc.data.views``) and the
    impulse-response files their DIR draws index (empty without ``augment.dir_prob``)."""
    files = []
    if cfg.augment.dir_prob > 0:
        files = response_files(resolve_path(cfg.augment.dir_folder), cfg.augment.dir_subset)
    return plan_for(cfg.augment, len(train_data), len(files)), files


def training_dataset(cfg: ExperimentConfig, train_data, logmel, extra_targets: dict, start_epoch: int,
                     verbose: int, shard: tuple[int, int, int] = (1, 0, 1)):
    """The run's endless augmented training stream from ``start_epoch``: batches gather the
    cached log-mel (``data.cache_logmel``), or compute it per batch from waveforms convolved
    with device impulse responses (``augment.dir_prob``); ``shard`` as in
    ``Pipeline.training`` (this worker's parts of each global batch)."""
    spectra, responses, plan = None, None, None
    if cfg.augment.views:
        plan, files = view_plan(cfg, train_data)
        if files:
            responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
        say(f"views: {plan.views} per clip (mixup p = {cfg.augment.mixup_prob}, shift p = {cfg.augment.shift_prob}, "
            f"gain +-{cfg.augment.gain_db:g} dB, DIR p = {cfg.augment.dir_prob}); epoch e trains on view e mod "
            f"{plan.views}; log-mel computed per batch")
    elif cfg.augment.dir_prob > 0:  # waveform augmentation: the log-mel is computed per batch
        files = response_files(resolve_path(cfg.augment.dir_folder), cfg.augment.dir_subset)
        responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
        say(f"DIR augmentation: {len(files)} impulse responses ({cfg.augment.dir_subset} of {cfg.augment.dir_folder}), "
            f"p = {cfg.augment.dir_prob}; log-mel computed per batch")
    elif cfg.data.cache_logmel:
        spectra = cached_logmel(train_data.waveforms, logmel, resolve_path(cfg.data.cache_dir).parent / "logmel",
                                name=f"{cfg.name}/train", progress=verbose > 0)
    return Pipeline(train_data, logmel, cfg.train.batch_size, extra_targets, spectra, responses, plan).training(
        cfg.augment, seed=cfg.train.seed, start_epoch=start_epoch, shard=shard)


def distributed_training_dataset(cfg: ExperimentConfig, strategy, train_data, logmel, extra_targets: dict,
                                 start_epoch: int, verbose: int):
    """The training stream for ``fit``: as :func:`training_dataset` on one worker; under
    several workers, each worker's pipeline makes only its replicas' parts of every
    global batch (``tf.distribute`` hands them out in order)."""
    if not in_multi_worker_mode(strategy):
        return training_dataset(cfg, train_data, logmel, extra_targets, start_epoch, verbose)
    replicas = strategy.num_replicas_in_sync

    def worker_stream(context):
        local = replicas // context.num_input_pipelines
        return training_dataset(cfg, train_data, logmel, extra_targets, start_epoch, verbose,
                                shard=(replicas, context.input_pipeline_id * local, local))

    return strategy.distribute_datasets_from_function(worker_stream)
