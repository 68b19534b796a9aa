"""tf.data input pipelines: cached int16 audio -> log-mel -> augmentations -> batches.

Training batches come from an endless stream of epochs; epoch e visits the clips in a
permutation seeded by (seed, e), and batch number b (counted over the whole run) is
augmented with the seed (augment.seed, b). So a run started at epoch e reproduces the
batches an uninterrupted run would have seen, and nothing depends on tf.data's
parallelism. Use ``steps_per_epoch`` with Keras ``fit``.

A multi-worker run splits every global batch into one contiguous part per replica;
each worker's pipeline yields only its replicas' parts (``training(shard=...)``), and
part p of batch b is augmented with the seed (augment.seed, b) folded with p.

With a view plan (``augment.views``, ``kasc.data.views``), epoch e trains on view
e mod K of every clip: the batch's waveforms are rendered from the plan (mixup, shift,
gain and DIR on the waveforms), its labels are the view's mixed labels and each extra
target is given per view, (K, n_clips, k), and gathered at (e mod K, clip).

Every batch is ``(spectra, targets)`` with spectra (batch, frames, mels, 1) float32 and
targets a dict (``kasc.data.batch_keys``): ``{LABELS: one-hot (batch, n_classes)}``, plus one
entry (batch, k) per extra per-clip target (the cached soft targets of distillation);
mixup mixes all of them with the same lambda.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping

import numpy as np
import pandas as pd
import tensorflow as tf

from kasc.data import augment as augment_ops
from kasc.config import AugmentConfig, DataConfig, resolve_path
from kasc.data.audio import INT16_SCALE, from_int16
from kasc.data.cache import AudioCache
from kasc.data.datasets import load_split
from kasc.data.table import (DatasetError, class_names as table_class_names, require_disjoint,
                             require_distinct_spellings)
from kasc.data.views import ViewPlan, render, view_labels
from kasc.data.features import LogMel
from kasc.data.batch_keys import LABELS
from kasc.config.validate import check_augment


@dataclasses.dataclass
class SplitData:
    """One split ready for the pipeline.

    Attributes:
      table: the clip table (see ``kasc.data.table``).
      waveforms: int16 array (n_clips, clip_samples), usually memory-mapped from the cache.
      labels: int32 (n_clips,), indices into ``class_names``.
      class_names: sorted class names, the model's output order.
    """

    table: pd.DataFrame
    waveforms: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> "SplitData":
        """The clips at ``rows`` (indices, in that order), waveforms read into memory."""
        rows = np.asarray(rows, dtype=np.int64)
        return SplitData(self.table.iloc[rows].reset_index(drop=True), np.asarray(self.waveforms[rows]),
                         self.labels[rows], self.class_names)


def encode_labels(table: pd.DataFrame, class_names: list[str], split: str) -> np.ndarray:
    """Class indices of a table's labels; a label outside ``class_names`` is an error."""
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(table["label"]) - set(index))
    if unknown:
        raise DatasetError(f"the {split} split has labels not in the training classes: {unknown}")
    return np.array([index[label] for label in table["label"]], dtype=np.int32)


def prepare_splits(data: DataConfig, splits: tuple[str, ...] = ("train", "valid"),
                   progress: bool = True, label: str = "data") -> dict[str, SplitData]:
    """Read the tables of ``splits`` of the ``data`` section and decode them into the audio
    cache (``label``: what the progress output calls them, e.g. the run's name).

    Class names are taken from the training split (all splits read if it is absent).
    Bad files and CSVs raise here, before any training starts.
    """
    tables = {split: load_split(data, split) for split in splits}
    if "train" in tables and "valid" in tables and not data.allow_overlap:
        require_disjoint(tables["train"], tables["valid"], ("training", "validation"),
                         f"data '{data.manifest or data.root}' ({data.train_split} / {data.valid_split})")
    require_distinct_spellings(*tables.values())  # across splits too: 'Airport' in one, 'airport' in the other
    names = table_class_names(tables["train"] if "train" in tables else pd.concat(tables.values()))
    cache = AudioCache(resolve_path(data.cache_dir), data.sample_rate, data.clip_samples, progress=progress)
    out = {}
    for split, table in tables.items():
        waveforms = cache.load(table["paths"].tolist(), name=f"{label}/{split}")
        out[split] = SplitData(table, waveforms, encode_labels(table, names, split), names)
    return out


def at_sample_rate(data_cfg: DataConfig, data: SplitData, sample_rate: int, progress: bool = True,
                   label: str = "data") -> SplitData:
    """``data``'s clips (read as the ``data_cfg`` section says) decoded at another rate (a
    teacher with its own front end), same clip length in seconds, from the audio cache,
    which holds each rate it is asked for (decoded from the source files, never resampled
    from another rate's cache)."""
    if sample_rate == data_cfg.sample_rate:
        return data
    clip_samples = int(round(data_cfg.clip_seconds * sample_rate))
    cache = AudioCache(resolve_path(data_cfg.cache_dir), sample_rate, clip_samples, progress=progress)
    waveforms = cache.load(data.table["paths"].tolist(), name=f"{label}@{sample_rate}Hz")
    return dataclasses.replace(data, waveforms=waveforms)


def logmel_batches(waveforms: np.ndarray, logmel: LogMel, batch_size: int):
    """Yield log-mel numpy batches (b, frames, mels, 1) of int16 waveforms (n, samples), in order,
    without augmentation (for running a model outside Keras' ``predict``)."""
    for start in range(0, len(waveforms), batch_size):
        yield logmel(from_int16(np.asarray(waveforms[start:start + batch_size]))).numpy()


def steps_per_epoch(n_clips: int, batch_size: int) -> int:
    """Batches per epoch (the last one may be smaller)."""
    return max(1, math.ceil(n_clips / batch_size))


class Pipeline:
    """Builds the tf.data datasets of one split.

    Args:
      data: the split.
      logmel: the front end.
      batch_size: clips per batch.
      extra_targets: per-clip float arrays (n_clips, k) to carry along (and mix up).
      spectra: the split's log-mel computed once (n_clips, frames, mels), e.g. from
        ``kasc.data.logmel_cache.cached_logmel``: training batches gather it instead of
        computing the log-mel of every batch (the augmentations still run on the fly).
        Evaluation always computes the log-mel from the waveforms, as prediction does.
      impulse_responses: float32 (n_responses, response_samples) at the data's rate, for
        DIR augmentation (``augment.dir_prob``); training then computes each batch's
        log-mel from the convolved waveforms (``spectra`` is not used).
      views: the view plan of the training clips (``kasc.data.views.ViewPlan``): training
        renders view e mod K in epoch e (``spectra`` is not used); extra targets are then
        per view, (K, n_clips, k).
    """

    def __init__(self, data: SplitData, logmel: LogMel, batch_size: int,
                 extra_targets: Mapping[str, np.ndarray] | None = None, spectra: np.ndarray | None = None,
                 impulse_responses: np.ndarray | None = None, views: ViewPlan | None = None):
        if batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.logmel = logmel
        self.batch_size = batch_size
        self.n_classes = len(data.class_names)
        self.labels = tf.constant(data.labels, tf.int32)
        if views is not None and views.clips != len(data):
            raise ValueError(f"the view plan is for {views.clips} clips; the split has {len(data)}")
        self.views = views
        self.extra_targets = {}
        for name, values in (extra_targets or {}).items():
            if name == LABELS:
                raise ValueError(f"extra target name '{LABELS}' is taken by the labels")
            if views is None and len(values) != len(data):
                raise ValueError(f"extra target '{name}' has {len(values)} rows for {len(data)} clips")
            if views is not None and (np.ndim(values) != 3 or np.shape(values)[:2] != (views.views, len(data))):
                raise ValueError(f"extra target '{name}' has shape {np.shape(values)}; with views it must be "
                                 f"(views, clips, k) = ({views.views}, {len(data)}, k)")
            self.extra_targets[name] = tf.constant(np.asarray(values, np.float32))
        clip_samples = data.waveforms.shape[1]
        self._waveform_spec = tf.TensorSpec([None, clip_samples], tf.int16)
        frames, mels, _ = logmel.output_shape(clip_samples)
        if spectra is not None and spectra.shape != (len(data), frames, mels):
            raise ValueError(f"cached log-mel has shape {spectra.shape}, expected {(len(data), frames, mels)}")
        self.spectra = spectra
        self.impulse_responses = (None if impulse_responses is None
                                  else tf.constant(np.asarray(impulse_responses, np.float32)))

    def _gather_waveforms(self, index: tf.Tensor) -> tf.Tensor:
        """(batch,) sorted int64 indices -> float32 waveforms (batch, clip_samples)."""
        waveforms = self.data.waveforms

        def take(idx: np.ndarray) -> np.ndarray:
            return np.asarray(waveforms[idx])

        samples = tf.numpy_function(take, [index], tf.int16, stateful=False)
        samples.set_shape(self._waveform_spec.shape)
        return tf.cast(samples, tf.float32) / INT16_SCALE

    def _gather_spectra(self, index: tf.Tensor) -> tf.Tensor:
        """(batch,) sorted int64 indices -> cached log-mel (batch, frames, mels, 1) float32."""
        spectra = self.spectra

        def take(idx: np.ndarray) -> np.ndarray:
            return np.asarray(spectra[idx])

        out = tf.numpy_function(take, [index], tf.as_dtype(spectra.dtype), stateful=False)
        out.set_shape([None, *spectra.shape[1:]])
        return tf.cast(out, tf.float32)[..., tf.newaxis]

    def _batch(self, index: tf.Tensor, use_cache: bool = False, waveform_augment=None):
        """(spectra, targets) of the clips ``index``; ``waveform_augment`` (float32 waveforms
        -> waveforms) runs before the log-mel and rules out the log-mel cache."""
        index = tf.sort(index)
        if use_cache and self.spectra is not None and waveform_augment is None:
            spectra = self._gather_spectra(index)
        else:
            waveforms = self._gather_waveforms(index)
            if waveform_augment is not None:
                waveforms = waveform_augment(waveforms)
            spectra = self.logmel(waveforms)
        targets = {LABELS: tf.one_hot(tf.gather(self.labels, index), self.n_classes)}
        for name, values in self.extra_targets.items():
            targets[name] = tf.gather(values, index)
        return spectra, targets

    def _view_batch(self, epoch: tf.Tensor, index: tf.Tensor):
        """(spectra, targets) of view ``epoch`` mod K of the clips ``index`` (sorted)."""
        plan, waveforms, labels = self.views, self.data.waveforms, self.data.labels
        responses = None if self.impulse_responses is None else self.impulse_responses.numpy()
        view = tf.math.floormod(epoch, plan.views)

        def render_batch(view: np.ndarray, idx: np.ndarray):
            return (render(waveforms, plan, int(view), idx, responses),
                    view_labels(labels, plan, int(view), idx, self.n_classes))

        audio, mixed = tf.numpy_function(render_batch, [view, index], [tf.float32, tf.float32], stateful=False)
        audio.set_shape(self._waveform_spec.shape)
        mixed.set_shape([None, self.n_classes])
        targets = {LABELS: mixed}
        for name, values in self.extra_targets.items():
            targets[name] = tf.gather(tf.gather(values, view), index)
        return self.logmel(audio), targets

    def training(self, augment: AugmentConfig, seed: int = 0, start_epoch: int = 0,
                 shard: tuple[int, int, int] = (1, 0, 1)) -> tf.data.Dataset:
        """Endless augmented batches starting at ``start_epoch`` (see module docstring).

        Args:
          shard: (parts, first, count): split each global batch of ``batch_size`` clips
            into ``parts`` contiguous parts (sizes differ by at most one) and yield parts
            ``first`` .. ``first + count - 1`` of each, in order: one element per replica
            of this worker. (1, 0, 1), the default, yields whole batches.
        """
        check_augment(augment)
        if bool(augment.views) != (self.views is not None):
            raise ValueError(f"augment.views is {augment.views} but the pipeline was built "
                             f"{'with' if self.views is not None else 'without'} a view plan")
        if augment.dir_prob > 0 and self.impulse_responses is None:
            raise ValueError("augment.dir_prob > 0 needs impulse_responses (kasc.data.impulse_responses.load_responses)")
        parts, first_part, own_parts = shard
        if not (parts >= 1 and 0 <= first_part and own_parts >= 1 and first_part + own_parts <= parts):
            raise ValueError(f"shard {shard}: expected (parts, first, count) with 0 <= first < first + count <= parts")
        n_clips, batch_size = len(self.data), self.batch_size
        if parts > batch_size:
            raise ValueError(f"train.batch_size {batch_size} cannot feed {parts} replicas: it must be at least the "
                             f"number of replicas")
        steps = steps_per_epoch(n_clips, batch_size)
        # a last batch smaller than `parts` would leave a replica empty: it borrows the epoch's first clips
        short = (parts - n_clips % batch_size) if 0 < n_clips % batch_size < parts else 0

        def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
            order = tf.argsort(tf.random.stateless_uniform([n_clips], seed=tf.stack([tf.constant(seed, tf.int64), epoch])))
            if short:
                order = tf.concat([order, order[:short]], axis=0)
            return (tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64)).batch(batch_size)
                    .map(lambda index: (epoch, index)))

        def own_parts_of(step: tf.Tensor, batch) -> tf.data.Dataset:
            epoch, index = batch
            size = tf.shape(index, out_type=tf.int64)[0]

            def part(p: tf.Tensor):
                return step, epoch, p, index[p * size // parts:(p + 1) * size // parts]

            return tf.data.Dataset.range(first_part, first_part + own_parts).map(part)

        # with views, mixup and DIR happened on the waveforms of the view
        spectrogram_augment = dataclasses.replace(augment, mixup_prob=0.0) if self.views is not None else augment

        def make(step: tf.Tensor, epoch: tf.Tensor, part: tf.Tensor, index: tf.Tensor):
            batch_seed = tf.stack([tf.constant(augment.seed, tf.int64), step])
            if parts > 1:
                batch_seed = augment_ops.fold_seed(batch_seed, 1000 + part)

            def device_responses(waveforms):
                return augment_ops.convolve_responses(waveforms, self.impulse_responses,
                                                      augment_ops.fold_seed(batch_seed, 50), augment.dir_prob)

            if self.views is not None:
                spectra, targets = self._view_batch(epoch, tf.sort(index))
            else:
                spectra, targets = self._batch(index, use_cache=True,
                                               waveform_augment=device_responses if augment.dir_prob > 0 else None)
            return augment_ops.augment_batch(spectra, targets, batch_seed, spectrogram_augment)

        epochs = tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch_batches)
        batches = epochs.enumerate(start=start_epoch * steps)
        if parts > 1:
            batches = batches.flat_map(own_parts_of)
        else:
            batches = batches.map(lambda step, batch: (step, batch[0], tf.constant(0, tf.int64), batch[1]))
        return (batches.map(make, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))

    def evaluation(self) -> tf.data.Dataset:
        """Every clip once, in table order, without augmentation."""
        batches = tf.data.Dataset.range(len(self.data)).batch(self.batch_size)
        options = tf.data.Options()  # under a multi-worker strategy, each worker evaluates its share of batches
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return (batches.map(self._batch, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE).with_options(options))
