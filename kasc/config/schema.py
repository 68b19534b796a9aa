"""The config schema: frozen dataclasses, one per section (``data``, ``features``,
``augment``, ``model``, ``train``, ``distill``), with every field documented, the allowed
values as constants, and the typed conversion of a YAML tree into them (:func:`from_dict`:
an unknown key or a value of the wrong type is a :class:`ConfigError` naming the dotted
key and the file it came from)."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def shown(value, limit: int = 200) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (a value built from
    anchors may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _config_dir() -> Path:
    """``configs/`` beside the package in a kasc clone (the repository's layout), else the
    copy an installed kasc carries as ``kasc/configs/`` (``setup.cfg`` ships it there)."""
    clone = PACKAGE_DIR.parent / "configs"
    return clone if (PACKAGE_DIR.parent / "setup.cfg").is_file() and clone.is_dir() else PACKAGE_DIR / "configs"


CONFIG_DIR = _config_dir()
"""kasc's own configs, one folder per purpose: ``base/``, ``report/`` (the report's
submissions and teachers), ``dcase24/``, ``us8k/``: ``configs/`` in a clone, shipped in the
wheel as ``kasc/configs/``."""

STUDY_CONFIG_DIR = PACKAGE_DIR.parent / "experiments" / "configs"
"""The studies' configs (``experiments/configs/<study>/``): found by name in a kasc clone,
beside kasc's own, so that a study reruns with one command; not shipped in the wheel."""


def project_root() -> Path:
    """Where relative paths in kasc's own configs (``data.root: ../shared/data/...``, the
    default ``data.cache_dir``) and in a run's ``config.yaml`` are taken from: the kasc
    clone when kasc runs from one (``setup.cfg`` beside the package), else (an installed
    kasc) the current directory."""
    clone = PACKAGE_DIR.parent
    return clone if (clone / "setup.cfg").is_file() else Path.cwd()


class ConfigError(ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


DATA_FORMATS = ("tau22", "tau20", "csv")
"""``data.format``: TAU22 Mobile layout, TAU20 Mobile layout (10 s clips), generic CSV manifest
(each described, with its rules, in :mod:`kasc.config.dataset_formats`)."""
CLIP_LENGTHS = ("fixed", "median")
"""``data.clip_length``: ``data.clip_seconds`` as set, or picked from the training files' median duration."""


MEL_SCALES = ("report", "htk", "kaldi")
"""``features.mel_scale``: the report's equation (1), HTK, or Kaldi's (EfficientAT's front end)."""


WINDOWS = ("hann", "hann_symmetric")
"""``features.window``: periodic Hann (the report's front end) or symmetric Hann (EfficientAT's)."""


SOFT_TARGET_MODES = ("cached", "online")
"""``distill.soft_targets``."""


TEACHER_INPUTS = ("clip", "recording")
TEACHER_DATA = ("own", "student")
"""``distill.teacher_data``: each teacher's own data settings, or the student's."""
TEACHER_CHECKS = ("floor", "ensemble", "none")
"""``distill.teacher_check``."""
ARCHITECTURES = {
    "serfr_cnn": ("width", "first_stride", "se_reduction", "head_channels", "name"),
    "mobilenetv2": ("alpha", "dropout", "name"),
    "cnn_teacher": ("width", "dropout", "name"),
    "bc_resnet": ("scale", "sub_bands", "dropout", "name"),
    "efficientat_mn": ("width", "dropout", "freeze_features", "name"),
    "dcase2023_baseline": ("dropout", "name"),
}
"""The networks ``model.architecture`` may name and the arguments each builder takes in
``model.params`` (``input_shape`` and ``n_classes`` come from the data). Kept here so that
checking a config needs no Keras import; ``kasc.models.BUILDERS`` matches it (tested)."""
STRATEGIES = ("default", "mirrored", "multi_worker")
"""``train.strategy`` values (:mod:`kasc.training.distribute`)."""
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16", "auto")
"""``train.mixed_precision`` values (:mod:`kasc.training.runtime`)."""
BATCHNORM_MODES = ("auto", "trained", "frozen")
"""``train.batchnorm``: what batch normalisation does while the network trains."""
DIR_SUBSETS = ("all", "training_half", "held_out_half")
"""``augment.dir_subset`` values: which measured impulse responses DIR draws from
(:mod:`kasc.data.impulse_responses`)."""


"""``distill.teacher_input``."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the audio comes from and how it is cut into clips.

    Attributes:
      format: ``tau22`` (TAU Urban Acoustic Scenes 2022 Mobile layout), ``tau20`` (2020
        Mobile layout, 10 s clips) or ``csv`` (a generic labelled manifest).
      root: dataset folder; a relative path is taken from the repository root.
      train_split / valid_split: for TAU layouts, names of ``evaluation_setup/<split>.csv``
        files (``fold1_train``, ``fold1_evaluate``); for ``csv``, fold values as strings.
        ``A+B`` reads the union of splits ``A`` and ``B`` (``1+2``: UrbanSound8K folds 1 and
        2, e.g. a final model trained on every dev clip; a validation split that overlaps
        the training split needs ``allow_overlap`` and is not held out).
      manifest: for ``csv``, the manifest file.
      audio_dir: for ``csv``, the folder of relative audio paths, relative to the
        manifest's folder.
      path_column / label_column / device_column / fold_column: column names of the
        manifest (device and fold columns optional: empty string means absent).
      recording_column: for ``csv``, the manifest column naming each clip's source
        recording (UrbanSound8K: ``fsID``), so that clips of one recording stay together
        (cross-fitting, ``kasc.data.parts``); empty: every clip is its own recording.
      subset_csv: a DCASE 2024 data-efficient split file (``split25.csv``) that selects a
        subset of the training split; empty means the whole split.
      rebuild_10s: rebuild 10 s recordings from TAU22's 1 s segments (teacher training).
      sample_rate: rate in Hz the audio is resampled to (the report: 16000).
      clip_seconds: clip length in seconds; shorter audio is zero padded, longer cropped.
      clip_length: ``fixed`` uses ``clip_seconds``; ``median`` sets ``clip_seconds`` when a
        run starts to the training files' median duration, rounded up to 0.1 s, within
        0.5-10 s (``kasc.data.survey``), written into the run's ``config.yaml``.
      max_clips_per_split: keep at most this many clips per split (0 = all), for fast runs.
      cache_dir: where decoded int16 audio is cached; relative to the repository root.
      cache_logmel: compute each training clip's log-mel once and cache it beside the
        audio cache (``<cache_dir>/../logmel``), so that training batches only gather and
        augment spectrograms (``kasc.data.logmel_cache``); false computes the log-mel of
        every batch. Results agree to float16 precision of the stored log-mel.
      confine_paths: for ``csv``, refuse audio paths that lead outside the manifest's folder
        (absolute paths elsewhere, ``../``, symbolic links out, after links are followed). By
        default a manifest may name any readable file on the machine: kasc is a local tool.
      allow_overlap: accept clips that are in both the training and the validation split
        (by default an error naming them: validation on training clips is not validation).
      train_parts / held_out_part: train without part ``held_out_part`` (1..train_parts)
        of the training split cut into ``train_parts`` parts by recording
        (``kasc.data.parts``); 0 / 0 trains on the whole split. Set by a cross-fitted
        distillation on the teachers it derives (``distill.cross_fit_parts``).
    """

    format: str = "tau22"
    root: str = "../shared/data/tau22-mini"
    train_split: str = "fold1_train"
    valid_split: str = "fold1_evaluate"
    manifest: str = ""
    audio_dir: str = ""
    path_column: str = "filename"
    label_column: str = "scene_label"
    device_column: str = ""
    fold_column: str = ""
    recording_column: str = ""
    subset_csv: str = ""
    rebuild_10s: bool = False
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    clip_length: str = "fixed"
    max_clips_per_split: int = 0
    cache_dir: str = ".cache/audio"
    cache_logmel: bool = True
    allow_overlap: bool = False
    confine_paths: bool = False
    train_parts: int = 0
    held_out_part: int = 0

    @property
    def clip_samples(self) -> int:
        """Clip length in samples at ``sample_rate``."""
        return int(round(self.clip_seconds * self.sample_rate))


def num_frames(n_samples: int, n_fft: int = 2048, hop_samples: int = 512, center: bool = False,
               preemphasis: bool = False) -> int:
    """Frames of an STFT of n_samples samples: un-centred 1 + (n - n_fft) // hop; centred
    1 + n // hop; pre-emphasis first removes one sample. Here, beside the settings it
    reads, so that checking a config needs no TensorFlow (``kasc.data.features`` uses it)."""
    n_samples -= int(bool(preemphasis))
    return 1 + n_samples // hop_samples if center else 1 + (n_samples - n_fft) // hop_samples


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end (report section 2.1).

    Attributes:
      n_fft: STFT window and FFT length in samples (2048).
      hop_samples: STFT hop in samples (512).
      n_mels: number of mel bands (256).
      fmin_hz / fmax_hz: band edges of the mel filter bank in Hz; ``fmax_hz`` 0 means
        half the sample rate.
      mel_scale: ``report`` (equation 1: mel(f) = 1000/ln 2 * ln(1 + f/1000)), ``htk``
        (2595 * log10(1 + f/700)), both with triangles linear in Hz, or ``kaldi``
        (1127 ln(1 + f/700) with triangles linear in mel and no weight on the Nyquist
        bin, Kaldi's and torchaudio's mel banks, as EfficientAT's pretrained models expect).
      win_samples: window length in samples, centred in the ``n_fft`` frame (0 = n_fft).
      window: ``hann`` (periodic, the report's front end) or ``hann_symmetric``.
      center: pad ``n_fft // 2`` samples on each side by reflection before framing (frames
        then start at sample 0, ``1 + n // hop_samples`` of them), as ``torch.stft``.
      preemphasis: y[n] = x[n] - preemphasis * x[n - 1] before the STFT (0 = none); the
        signal gets one sample shorter, as EfficientAT's valid convolution.
      log_offset: added to the mel power before the natural log.
      normalize_mean / normalize_std: the log-mel is returned as (log-mel - mean) / std,
        fixed constants of the config (so that a saved run's front end is its config);
        ``configs/base/default.yaml`` holds the values measured on TAU22-mini's training
        clips, 0 and 1 leave the log-mel as it is. Unit-scale input keeps the first
        layers' BatchNormalization statistics sane from the first steps.
      measure_normalization: measure ``normalize_mean`` / ``normalize_std`` on the training
        clips before training (``kasc.data.normalization``; new data whose statistics
        nobody wrote down); the run's ``config.yaml`` holds the measured values.
    """

    n_fft: int = 2048
    hop_samples: int = 512
    n_mels: int = 256
    fmin_hz: float = 0.0
    fmax_hz: float = 0.0
    mel_scale: str = "report"
    win_samples: int = 0
    window: str = "hann"
    center: bool = False
    preemphasis: float = 0.0
    log_offset: float = 1e-6
    normalize_mean: float = 0.0
    normalize_std: float = 1.0
    measure_normalization: bool = False

    NOT_COMPUTATION: typing.ClassVar[frozenset] = frozenset({"measure_normalization"})
    """Fields that say how a setting is found, not what the front end computes: left out
    of :meth:`computation`, so that they never invalidate a cache."""

    def computation(self) -> dict:
        """The settings that determine the log-mel of a waveform (every field but
        :attr:`NOT_COMPUTATION`): what caches of front-end outputs are keyed on. A field
        added later that does not change the log-mel belongs in :attr:`NOT_COMPUTATION`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.NOT_COMPUTATION}


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly training augmentation (report section 2.2 and submissions 3/4).

    Attributes:
      seed: base seed; every augmentation of every batch is derived from it and the
        global batch number, so a run is reproducible and resumable. -1 (the default):
        ``train.seed``, so that one seed key drives weights, clip order and augmentation
        unless this one is set apart.
      mixup_prob: probability that a batch is mixed up (0 disables mixup).
      mixup_alpha: lambda ~ Beta(mixup_alpha, mixup_alpha) (see README: the report's
        "beta in (0.1, 0.9)").
      freq_masks / freq_mask_max_bins: number of frequency masks per clip and the largest
        mask width in mel bins (0 masks disables).
      time_masks / time_mask_max_frames: same along time, in frames.
      stretch_prob: probability that a clip is time stretched (0 disables).
      stretch_min_rate / stretch_max_rate: rate range; rate > 1 speeds the clip up.
      mixstyle_prob / mixstyle_alpha: Freq-MixStyle (Schmid et al., the DCASE 2024 Task 1
        baseline; there p = 0.4, alpha = 0.3): with probability ``mixstyle_prob`` a batch
        has each clip's per-frequency log-mel mean and standard deviation replaced by a
        Beta(alpha, alpha) mixture of its own and another clip's (0 disables).
      dir_prob: device impulse response (DIR) augmentation (CP-JKU, DCASE 2023): with this
        probability a training waveform is convolved with a random microphone impulse
        response from ``dir_folder`` (0 disables). Works on waveforms, so the training
        log-mel is computed per batch (``data.cache_logmel`` is not used then).
      dir_folder: folder of impulse-response WAV files (relative to the repository root).
      dir_subset: ``all`` responses of the folder, or the ``training_half`` (even positions
        by sorted name), keeping the ``held_out_half`` for ``python -m kasc.device_shift``.
      views: 0, or train on this many augmented views per clip drawn once from ``seed``
        (``kasc.data.views``): mixup (``mixup_prob``, ``mixup_alpha``), circular time
        shift, gain and DIR happen on the waveforms, the student trains on view
        e mod ``views`` in epoch e, and cached teachers label exactly those views
        (consistent distillation). Masks, time stretch and Freq-MixStyle still apply to
        the student's own log-mel.
      views_seed: the seed the views are drawn from; -1 (the default): ``seed``. Set apart
        so that runs of several seeds share one set of views, which the teachers then
        label once (the seeds still change weights, clip order and the log-mel masks).
      shift_prob: with ``views``: probability that a clip (and its mixup partner) is
        shifted circularly by a uniform fraction of its length (0 disables).
      gain_db: with ``views``: each view gets a gain uniform in +-``gain_db`` dB (0 disables).
      speed_semitones: with ``views``: each view is played faster or slower by 2^(u / 12),
        u uniform in +-``speed_semitones``, which moves every pitch by u semitones and the
        tempo alike (resampling, as ``sox speed``; Salamon and Bello 2017 found pitch
        shifting, which keeps the tempo, the most useful augmentation on UrbanSound8K).
        0 disables.
    """

    seed: int = -1
    mixup_prob: float = 0.0
    mixup_alpha: float = 0.3
    freq_masks: int = 0
    freq_mask_max_bins: int = 0
    time_masks: int = 0
    time_mask_max_frames: int = 0
    stretch_prob: float = 0.0
    stretch_min_rate: float = 0.8
    stretch_max_rate: float = 1.25
    mixstyle_prob: float = 0.0
    mixstyle_alpha: float = 0.3
    dir_prob: float = 0.0
    dir_folder: str = "../shared/data/dirs"
    dir_subset: str = "training_half"
    views: int = 0
    views_seed: int = -1
    shift_prob: float = 0.0
    gain_db: float = 0.0
    speed_semitones: float = 0.0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network a run trains.

    Attributes:
      architecture: a name in ``kasc.models.BUILDERS`` (``serfr_cnn``, ``mobilenetv2``,
        ``cnn_teacher``, ``bc_resnet``, ``dcase2023_baseline``).
      params: keyword arguments of the builder (``{width: 24}`` for SERFR-CNN-24).
      check_limits: audit the exported int8 model against the DCASE 2023 limits and fail
        the run if it exceeds them (students); teachers are not audited.
    """

    architecture: str = "serfr_cnn"
    params: Any = dataclasses.field(default_factory=dict)
    check_limits: bool = False


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training loop, optimiser and learning-rate schedule (report section 4.2).

    The learning rate rises from about 0.7 % of ``learning_rate`` to ``learning_rate``
    over ``warmup_epochs`` (exponential ramp exp(-5 (1 - e / warmup)^2)), then falls
    linearly to ``final_learning_rate`` at ``decay_end_epoch`` and stays there (see
    ``kasc.training.schedules``).

    Attributes:
      batch_size: clips per batch.
      epochs: epochs to train (the report: at most 800).
      seed: seed of the clip order and of weight initialisation.
      learning_rate: peak learning rate (0.001).
      weight_decay: Adam's decoupled weight decay (0.001).
      warmup_epochs: length of the exponential warm-up in epochs (300).
      decay_end_epoch: epoch at which the linear decay reaches ``final_learning_rate`` (800).
      final_learning_rate: learning rate at and after ``decay_end_epoch`` (1e-5).
      init_from: start from the weights of an earlier run (its folder, or a ``.keras``
        file; layers matched by name and shape, transfer learning, report 4.2) or of an
        EfficientAT state dict ``.npz`` (the AudioSet-pretrained teacher,
        ``kasc.models.pretrained``).
      batchnorm: ``trained`` (batch statistics in training, running statistics updated: the
        usual), ``frozen`` (every batch-normalisation layer in inference mode, its statistics,
        scale and shift kept: fine-tuning a pretrained network on small batches of other audio
        keeps what it learned, as Keras' transfer-learning guide does) or ``auto`` (``frozen``
        when ``init_from`` is set, else ``trained``).
      export: after training, write float32 and int8 TFLite files and audit them.
      qat_epochs: after training and export, fine-tune this many epochs with
        quantization-aware training and export ``model_qat_int8.tflite`` (``kasc.qat``,
        tensorflow-model-optimization, in its own process; 0: no QAT). Needs ``export``.
      qat_learning_rate: Adam's learning rate during QAT.
      strategy: ``default`` (one device), ``mirrored`` (``tf.distribute.MirroredStrategy``
        over the local GPUs or ``devices``) or ``multi_worker``
        (``tf.distribute.MultiWorkerMirroredStrategy`` over the processes named in the
        ``TF_CONFIG`` environment variable); ``batch_size`` is the global batch
        (``kasc.training.distribute``).
      devices: for ``mirrored``, the devices to mirror over (``["/gpu:0", "/gpu:1"]``);
        empty: every local GPU (or the CPU if there is none).
      mixed_precision: ``none``, ``mixed_float16`` (GPUs; dynamic loss scaling) or
        ``mixed_bfloat16``: the Keras dtype policy the student is built with (variables
        stay float32; the logits, softmax and losses are float32). Export and audit see the
        float32 network. ``auto``: ``mixed_bfloat16`` on a CPU with native bfloat16
        arithmetic (AVX-512 BF16 or AMX), else ``none`` (``kasc.training.runtime.cpu_has_bfloat16``;
        elsewhere bfloat16 is emulated and slower).
      details_every: every this many epochs (and after the last) write per-device and
        per-class validation accuracy and a confusion-matrix image to TensorBoard (0: never).
      ema_momentum: keep an exponential moving average of the student's weights (Polyak
        averaging; Keras' ``use_ema``): after every step ``average <- m * average + (1 - m) *
        weights``. Each epoch's validation scores the average, and the trained network (saved,
        scored, exported) is the average (``kasc.training.weight_average``). 0: off. At m =
        0.999 the average spans about 1,000 steps (a run of 150 epochs of 14 steps has 2,100).
      intra_op_threads / inter_op_threads: TensorFlow's CPU thread pools (threads per op,
        ops at once; 0: TensorFlow's choice, one per core). Set for the whole
        ``python -m kasc.train`` process from the config named on the command line, so
        teachers it trains on the way share the student's setting (``kasc.training.runtime``).
    """

    batch_size: int = 64
    epochs: int = 800
    seed: int = 0
    learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    warmup_epochs: float = 300.0
    decay_end_epoch: float = 800.0
    final_learning_rate: float = 1e-5
    init_from: str = ""
    batchnorm: str = "auto"
    export: bool = True
    qat_epochs: int = 0
    qat_learning_rate: float = 1e-4
    strategy: str = "default"
    devices: tuple[str, ...] = ()
    mixed_precision: str = "none"
    details_every: int = 10
    ema_momentum: float = 0.0
    intra_op_threads: int = 0
    inter_op_threads: int = 0


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Multi-teacher knowledge distillation (report section 3).

    The report gives neither temperature nor loss weight; the defaults are Hinton et
    al.'s usual choices and are written into every run's config.

    Attributes:
      teachers: names of teacher runs (configs); each is trained first unless a finished
        run of it exists. An entry may add settings of its own after the name
        (``"us8k_teacher_mn04_probe train.seed=1"``, ``parse_teacher``). Empty: no
        distillation (plain training).
      teacher_weights: weights of the teachers in the ensemble (empty: equal).
      temperature: T of the soft targets softmax(logits / T) and of the student.
      label_weight: lambda in  lambda * CE(labels) + (1 - lambda) * T^2 * KL(teachers || student).
      soft_targets: ``cached`` (teacher logits computed once per clip and stored) or
        ``online`` (the teachers see every augmented batch).
      teacher_input: for cached targets, ``clip`` (the teacher sees the student's clip)
        or ``recording`` (the teacher sees the whole 10 s recording the 1 s clip was cut
        from, as it was trained; TAU22 only).
      teacher_set: settings applied to every teacher's config (dotted keys, as ``--set``:
        ``{data.train_split: "2", data.valid_split: "1"}`` trains the teachers on the
        student's folds); a teacher with settings runs in ``<teacher>--<settings>``
        (``teacher_run_name``), beside the plain one.
      cross_fit_parts: 0, or cut the training clips into this many parts by recording
        (``kasc.data.parts``), train every teacher once without each part (runs
        ``<teacher>-without<k>of<n>``) and give each clip the soft targets of the teachers
        that never heard its recording (cross-fitting; cached targets only). Teachers
        scored on the clips they trained on are near one-hot; held-out ones are not.
      teacher_data: ``own`` (each teacher's config names its data) or ``student`` (every
        teacher trains and is scored on the student's data: each ``data`` setting of the
        student, a user's ``--set data.manifest=...`` included, but the sample rate, which is
        the teacher's front end's); such teachers run in ``<student run>/teachers/<teacher>``.
      teacher_check: ``floor``: before the student trains, every teacher is scored on the
        validation split beside a floor kasc fits in seconds (log-mel statistics + logistic
        regression, ``kasc.evaluation.floor``), and a teacher below it is dropped with one
        line; ``ensemble``: the floor's rule, then the teachers left join the ensemble best
        first, each only if it raises the ensemble's validation accuracy (a teacher that
        lowers it is dropped with one line; chosen by cross-validation for ``own_data``,
        ``docs/studies/own_data.md``); ``none``: every teacher teaches.
      require_teachers: when the check drops every teacher, stop with an error instead of
        training the student plain (the default, said in one line).
    """

    teachers: tuple[str, ...] = ()
    teacher_weights: tuple[float, ...] = ()
    temperature: float = 2.0
    label_weight: float = 0.5
    soft_targets: str = "cached"
    teacher_input: str = "clip"
    teacher_set: Any = dataclasses.field(default_factory=dict)
    cross_fit_parts: int = 0
    teacher_data: str = "own"
    teacher_check: str = "floor"
    require_teachers: bool = False


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One named experiment: everything a run needs."""

    name: str = "default"
    description: str = ""
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    distill: DistillConfig = DistillConfig()

    def __post_init__(self):
        if self.augment.seed == -1:  # follows train.seed (AugmentConfig.seed)
            object.__setattr__(self, "augment", dataclasses.replace(self.augment, seed=self.train.seed))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-serialisable) of every field."""
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, option, key, source)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: '{key}' must be {tp}, got {shown(value)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {shown(value)}")
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        return tuple(_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {shown(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {shown(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {shown(value)}")
        return value
    if tp is str:
        if isinstance(value, int) and not isinstance(value, bool):  # `train_split: 2` (a fold) means "2"
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {shown(value)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{key}' must be a section (mapping), got {shown(value)}")
        return from_dict(tp, value, source=source, prefix=f"{key}.")
    raise ConfigError(f"{source}: '{key}' has an unsupported type {_type_name(tp)}")


def from_dict(cls: type, tree: Mapping[str, Any], source: str = "<dict>", prefix: str = ""):
    """Build dataclass ``cls`` from a nested mapping, rejecting unknown keys and bad types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(tree) - names)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' "
            f"(known keys of '{prefix.rstrip('.') or 'top level'}': {', '.join(sorted(names))})"
        )
    kwargs = {k: _coerce(v, hints[k], prefix + k, source) for k, v in tree.items()}
    return cls(**kwargs)
