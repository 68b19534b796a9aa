"""Every rule a resolved config must satisfy, checked in one place before any work.

``load_config`` runs :func:`check_values` on every config it returns, so a bad value
fails in seconds, before audio is decoded, teachers are trained or a run folder is
written. :func:`kasc.data.preflight.check_paths` (run by ``python -m kasc.train`` before
anything else) adds what needs the file system: dataset folders and files,
``train.init_from``. Each error
is one :class:`kasc.config.ConfigError` line naming the config file, the key, the value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

from kasc.config.schema import (ARCHITECTURES, BATCHNORM_MODES, CLIP_LENGTHS, DATA_FORMATS, DIR_SUBSETS, MEL_SCALES,
                                MIXED_PRECISION, SOFT_TARGET_MODES, STRATEGIES, TEACHER_CHECKS, TEACHER_DATA,
                                TEACHER_INPUTS, WINDOWS, ConfigError, ExperimentConfig, num_frames, shown)
from kasc.config.dataset_formats import dataset_format
from kasc.config.syntax import config_path, parse_teacher


class Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, value, expected: str):
        raise ConfigError(f"{self.source}: {key} must be {expected}, got {shown(value)}")

    def one_of(self, key: str, value, allowed) -> None:
        if value not in allowed:
            self.fail(key, value, f"one of {', '.join(map(str, allowed))}")

    def at_least(self, key: str, value, low, strict: bool = False) -> None:
        if value < low or (strict and value == low):
            self.fail(key, value, f"{'>' if strict else '>='} {low}")

    def probability(self, key: str, value) -> None:
        if not 0.0 <= value <= 1.0:
            self.fail(key, value, "a probability in [0, 1]")


def check_augment(augment, source: str = "augment") -> None:
    """The augmentation settings (``AugmentConfig``): probabilities, Beta parameter, rates, mask sizes."""
    check = Checker(source)
    check_finite(augment, check, "augment.")
    for name in ("mixup_prob", "stretch_prob", "mixstyle_prob", "dir_prob", "shift_prob"):
        check.probability(f"augment.{name}", getattr(augment, name))
    check.at_least("augment.mixup_alpha", augment.mixup_alpha, 0.0, strict=True)
    check.at_least("augment.mixstyle_alpha", augment.mixstyle_alpha, 0.0, strict=True)
    if not 0.0 < augment.stretch_min_rate <= augment.stretch_max_rate:
        check.fail("augment.stretch_min_rate / stretch_max_rate", (augment.stretch_min_rate, augment.stretch_max_rate),
                   "0 < min <= max")
    for name in ("freq_masks", "freq_mask_max_bins", "time_masks", "time_mask_max_frames"):
        check.at_least(f"augment.{name}", getattr(augment, name), 0)
    check.one_of("augment.dir_subset", augment.dir_subset, DIR_SUBSETS)
    if augment.dir_prob > 0 and not augment.dir_folder:
        check.fail("augment.dir_folder", augment.dir_folder, "a folder of impulse responses when augment.dir_prob > 0")
    check.at_least("augment.views", augment.views, 0)
    check.at_least("augment.views_seed", augment.views_seed, -1)
    check.at_least("augment.gain_db", augment.gain_db, 0.0)
    if not 0.0 <= augment.speed_semitones <= 12.0:
        check.fail("augment.speed_semitones", augment.speed_semitones, "in [0, 12] (an octave either way at most)")
    if not augment.views:
        for name in ("shift_prob", "gain_db", "speed_semitones"):
            if getattr(augment, name):
                check.fail(f"augment.{name}", getattr(augment, name),
                           "0 unless augment.views > 0 (time shift, gain and speed are drawn into the views)")


def check_finite(section, check: Checker, prefix: str = "") -> None:
    """Every float setting (dataclass fields, lists of floats) is a finite number: NaN
    passes every range comparison, so ranges alone would let it through."""
    for field in dataclasses.fields(section):
        value, key = getattr(section, field.name), f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            check_finite(value, check, f"{key}.")
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                check.fail(key, value, "a finite number")


MAX_MASKED_SHARE = 0.5
"""Time or frequency masks may cover at most this share of a clip's frames or mel bands."""


def check_masks_fit_the_clip(cfg: ExperimentConfig, check: Checker) -> None:
    """Masks sized for one clip length erase another: 2 time masks of up to 24 frames (the
    report's teachers, 10 s recordings, 313 frames) cover most of a 1 s clip (28 frames).
    Refused, naming the setting, when the largest masks together would cover more than
    :data:`MAX_MASKED_SHARE` of the clip's frames (or mel bands)."""
    augment, features, data = cfg.augment, cfg.features, cfg.data
    if features.hop_samples < 1 or features.n_fft < 1 or data.sample_rate < 1 or data.clip_seconds <= 0:
        return  # their own rules report them
    frames = num_frames(data.clip_samples, features.n_fft, features.hop_samples, features.center,
                        features.preemphasis > 0)
    for axis, largest_key, size, unit in (("time", "time_mask_max_frames", frames, "frames"),
                                          ("freq", "freq_mask_max_bins", features.n_mels, "mel bands")):
        masks, largest = getattr(augment, f"{axis}_masks"), getattr(augment, largest_key)
        if masks > 0 and largest > 0 and size > 0 and masks * largest > MAX_MASKED_SHARE * size:
            check.fail(f"augment.{largest_key}", largest,
                       f"at most {int(MAX_MASKED_SHARE * size) // masks} with augment.{axis}_masks {masks}: a clip of "
                       f"{data.clip_seconds:g} s has {size} {unit}, and {masks} masks of up to {largest} would erase "
                       f"{min(masks * largest, size)} of them")


def check_clip_settings(cfg: ExperimentConfig, source: str) -> None:
    """The rules that depend on the clip length, for a clip length set when a run starts
    (``data.clip_length: median``): masks that fit and at least one STFT window."""
    check = Checker(source)
    check_masks_fit_the_clip(cfg, check)
    check_clip_holds_a_window(cfg, check)


def check_clip_holds_a_window(cfg: ExperimentConfig, check: Checker) -> None:
    data, features = cfg.data, cfg.features
    if data.clip_samples < features.n_fft:
        check.fail("data.clip_seconds", data.clip_seconds,
                   f"at least one STFT window, {features.n_fft / data.sample_rate:g} s "
                   f"(features.n_fft {features.n_fft} samples at {data.sample_rate} Hz)")


def check_values(cfg: ExperimentConfig, source: str, teachers_must_exist: bool = True,
                 load_teacher: Callable[[str, dict | None], ExperimentConfig] | None = None) -> None:
    """Enum values, ranges and cross-field rules of a resolved config (no file access
    beyond the config folder, where teacher names must exist unless ``teachers_must_exist``
    is False: a finished run's ``config.yaml`` is a record, read to predict, evaluate or
    export, and a teacher config renamed since must not make it unreadable).

    ``load_teacher(name, settings)`` loads a teacher's config for the rules that compare a
    student with its teachers (the loader passes its ``load_config``; without it those
    rules are skipped)."""
    check = Checker(source)
    check_finite(cfg, check)
    check_data(cfg.data, check)
    check_features(cfg, check)
    check_augment(cfg.augment, source)
    check_model(cfg.model, check)
    check_train(cfg.train, check)
    check_distill(cfg, check, teachers_must_exist, load_teacher)


def check_data(data, check: Checker) -> None:
    """The ``data`` section's rules (``DataConfig``); each format's own ones first."""
    check.one_of("data.format", data.format, DATA_FORMATS)
    dataset_format(data.format).check(data, check.fail)
    check.at_least("data.sample_rate", data.sample_rate, 1)
    check.at_least("data.clip_seconds", data.clip_seconds, 0.0, strict=True)
    check.one_of("data.clip_length", data.clip_length, CLIP_LENGTHS)
    check.at_least("data.max_clips_per_split", data.max_clips_per_split, 0)
    if data.train_parts == 1 or data.train_parts < 0:
        check.fail("data.train_parts", data.train_parts, "0 (the whole training split) or at least 2")
    if data.held_out_part and not 1 <= data.held_out_part <= data.train_parts:
        check.fail("data.held_out_part", data.held_out_part,
                   f"0 (none) or a part from 1 to data.train_parts ({data.train_parts})")


def check_features(cfg: ExperimentConfig, check: Checker) -> None:
    """The ``features`` section's rules (``FeatureConfig``), with those that depend on the clip
    and its sample rate (masks that fit, a band edge below Nyquist, one STFT window)."""
    data, features = cfg.data, cfg.features
    check.at_least("features.n_fft", features.n_fft, 1)
    check.at_least("features.hop_samples", features.hop_samples, 1)
    check.at_least("features.n_mels", features.n_mels, 1)
    check.one_of("features.mel_scale", features.mel_scale, MEL_SCALES)
    check.one_of("features.window", features.window, WINDOWS)
    if not 0 <= features.win_samples <= features.n_fft:
        check.fail("features.win_samples", features.win_samples, f"0 (= n_fft) to features.n_fft ({features.n_fft})")
    if not 0.0 <= features.preemphasis < 1.0:
        check.fail("features.preemphasis", features.preemphasis, "0 <= preemphasis < 1 (0 = none)")
    check.at_least("features.normalize_std", features.normalize_std, 0.0, strict=True)
    check.at_least("features.log_offset", features.log_offset, 0.0, strict=True)
    check_masks_fit_the_clip(cfg, check)
    nyquist = data.sample_rate / 2.0
    fmax = features.fmax_hz or nyquist
    if not 0.0 <= features.fmin_hz < fmax <= nyquist:
        check.fail("features.fmin_hz / fmax_hz", (features.fmin_hz, features.fmax_hz),
                   f"0 <= fmin_hz < fmax_hz <= {nyquist:g} (half of data.sample_rate; fmax_hz 0 means that)")
    check_clip_holds_a_window(cfg, check)


def check_model(model, check: Checker) -> None:
    """The ``model`` section's rules (``ModelConfig``): a known architecture and its arguments."""
    check.one_of("model.architecture", model.architecture, sorted(ARCHITECTURES))
    if not isinstance(model.params, dict):
        check.fail("model.params", model.params, "a mapping of builder arguments")
    accepted = ARCHITECTURES.get(model.architecture, ())
    unknown = sorted(set(model.params) - set(accepted))
    if unknown:
        check.fail("model.params", model.params,
                   f"arguments of the '{model.architecture}' builder ({', '.join(sorted(accepted))}); "
                   f"unknown: {', '.join(unknown)}")


def check_train(train, check: Checker) -> None:
    """The ``train`` section's rules (``TrainConfig``)."""
    check.at_least("train.batch_size", train.batch_size, 1)
    check.at_least("train.epochs", train.epochs, 1)
    check.at_least("train.learning_rate", train.learning_rate, 0.0, strict=True)
    check.at_least("train.final_learning_rate", train.final_learning_rate, 0.0)
    check.at_least("train.weight_decay", train.weight_decay, 0.0)
    check.at_least("train.warmup_epochs", train.warmup_epochs, 0.0)
    check.at_least("train.decay_end_epoch", train.decay_end_epoch, train.warmup_epochs)
    check.at_least("train.details_every", train.details_every, 0)
    if not 0.0 <= train.ema_momentum < 1.0:
        check.fail("train.ema_momentum", train.ema_momentum, "in [0, 1) (0: no moving average of the weights)")
    check.one_of("train.strategy", train.strategy, STRATEGIES)
    check.one_of("train.mixed_precision", train.mixed_precision, MIXED_PRECISION)
    check.one_of("train.batchnorm", train.batchnorm, BATCHNORM_MODES)
    if train.devices and train.strategy != "mirrored":
        check.fail("train.devices", list(train.devices), "empty unless train.strategy is 'mirrored'")
    check.at_least("train.qat_epochs", train.qat_epochs, 0)
    check.at_least("train.qat_learning_rate", train.qat_learning_rate, 0.0, strict=True)
    if train.qat_epochs and not train.export:
        check.fail("train.qat_epochs", train.qat_epochs, "0 when train.export is false (QAT exports an int8 file)")
    check.at_least("train.intra_op_threads", train.intra_op_threads, 0)
    check.at_least("train.inter_op_threads", train.inter_op_threads, 0)


def check_distill(cfg: ExperimentConfig, check: Checker, teachers_must_exist: bool = True,
                  load_teacher: Callable[[str, dict | None], ExperimentConfig] | None = None) -> None:
    """The ``distill`` section's rules (``DistillConfig``), with those that tie it to the data,
    the views and the teachers' configs."""
    data, features, distill, source = cfg.data, cfg.features, cfg.distill, check.source
    check.one_of("distill.soft_targets", distill.soft_targets, SOFT_TARGET_MODES)
    check.one_of("distill.teacher_data", distill.teacher_data, TEACHER_DATA)
    check.one_of("distill.teacher_check", distill.teacher_check, TEACHER_CHECKS)
    check.one_of("distill.teacher_input", distill.teacher_input, TEACHER_INPUTS)
    if distill.teacher_input == "recording" and data.format != "tau22":
        check.fail("distill.teacher_input", distill.teacher_input,
                   f"'clip' unless data.format is 'tau22' (only TAU22 1 s segments come from 10 s recordings; "
                   f"data.format is '{data.format}')")
    if distill.cross_fit_parts == 1 or distill.cross_fit_parts < 0:
        check.fail("distill.cross_fit_parts", distill.cross_fit_parts, "0 (no cross-fitting) or at least 2")
    if distill.cross_fit_parts and distill.soft_targets != "cached":
        check.fail("distill.cross_fit_parts", distill.cross_fit_parts,
                   f"0 unless distill.soft_targets is 'cached' (each clip's targets come from the teachers that did "
                   f"not train on it; soft_targets is '{distill.soft_targets}')")
    if cfg.augment.views and distill.teachers and distill.soft_targets != "cached":
        check.fail("distill.soft_targets", distill.soft_targets,
                   "'cached' when augment.views > 0 (the teachers label every view once, through their own front end)")
    if cfg.augment.views and distill.cross_fit_parts:
        check.fail("augment.views", cfg.augment.views,
                   "0 with distill.cross_fit_parts (a view mixes clips of different parts, which one held-out "
                   "teacher may have heard)")
    if cfg.augment.views and distill.teacher_input != "clip":
        check.fail("augment.views", cfg.augment.views,
                   f"0 unless distill.teacher_input is 'clip' (views are made of clips; it is '{distill.teacher_input}')")
    check.at_least("distill.temperature", distill.temperature, 0.0, strict=True)
    check.probability("distill.label_weight", distill.label_weight)
    if distill.teacher_weights and len(distill.teacher_weights) != len(distill.teachers):
        check.fail("distill.teacher_weights", list(distill.teacher_weights),
                   f"one weight per teacher ({len(distill.teachers)}: {', '.join(distill.teachers)})")
    for i, weight in enumerate(distill.teacher_weights):
        check.at_least(f"distill.teacher_weights[{i}]", weight, 0.0)
    if not isinstance(distill.teacher_set, dict) or not all(isinstance(k, str) for k in distill.teacher_set):
        check.fail("distill.teacher_set", distill.teacher_set, "a mapping of dotted config keys to values")
    if distill.teacher_set and not distill.teachers:
        check.fail("distill.teacher_set", distill.teacher_set, "empty when distill.teachers is empty")
    for teacher in distill.teachers if teachers_must_exist else ():
        try:
            config_path(parse_teacher(teacher)[0])
        except ConfigError as err:
            raise ConfigError(f"{source}: distill.teachers names an unknown teacher: {err}") from None
    if distill.soft_targets == "online" and distill.teachers and teachers_must_exist and load_teacher:
        for teacher in distill.teachers:  # online teachers run on the student's own log-mel batches
            name, own = parse_teacher(teacher)
            teacher_cfg = load_teacher(name, {**(distill.teacher_set or {}), **own} or None)
            if (teacher_cfg.features, teacher_cfg.data.sample_rate) != (features, data.sample_rate):
                check.fail("distill.soft_targets", distill.soft_targets,
                           f"'cached' for teacher {teacher_cfg.name}: 'online' needs teachers on the student's front "
                           f"end, and it has its own ({teacher_cfg.data.sample_rate} Hz, {teacher_cfg.features.n_mels} "
                           f"mels)")
