"""Experiment configuration: YAML files in ``configs/`` loaded into frozen dataclasses.

A named experiment ``NAME`` lives in ``configs/NAME.yaml``. A file may start from another
one with ``extends: OTHER`` (deep merge, the child wins), or from several with
``extends: [A, B]`` (B wins over A) and may define named profiles
(``profiles: {fast: {train.epochs: 2, ...}}``) applied with ``profile="fast"``. Command
line overrides (``--set train.epochs=2``) are applied last; their values are parsed as
YAML (``2`` is an int, ``0.5`` a float, ``[1, 2]`` a list, ``null`` None).

Every key is checked against the dataclasses: an unknown key or a value of the wrong
type raises :class:`ConfigError` naming the dotted key and the file it came from.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
RUNS_DIR = CONFIG_DIR.parent / "saved_models"
"""Where runs go by default (``saved_models/<name>[-<profile>]``, see ``kasc.files.runs``)."""


class ConfigError(ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


DATA_FORMATS = ("tau22", "tau20", "csv")
"""``data.format``: TAU22 Mobile layout, TAU20 Mobile layout (10 s clips), generic CSV manifest."""
MEL_SCALES = ("report", "htk", "kaldi")
"""``features.mel_scale``: the report's equation (1), HTK, or Kaldi's (EfficientAT's front end)."""
WINDOWS = ("hann", "hann_symmetric")
"""``features.window``: periodic Hann (the report's front end) or symmetric Hann (EfficientAT's)."""
SOFT_TARGET_MODES = ("cached", "online")
"""``distill.soft_targets``."""
TEACHER_INPUTS = ("clip", "recording")
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
      max_clips_per_split: keep at most this many clips per split (0 = all), for fast runs.
      cache_dir: where decoded int16 audio is cached; relative to the repository root.
      cache_logmel: compute each training clip's log-mel once and cache it beside the
        audio cache (``<cache_dir>/../logmel``), so that training batches only gather and
        augment spectrograms (``kasc.data.logmel_cache``); false computes the log-mel of
        every batch. Results agree to float16 precision of the stored log-mel.
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
    max_clips_per_split: int = 0
    cache_dir: str = ".cache/audio"
    cache_logmel: bool = True
    allow_overlap: bool = False
    train_parts: int = 0
    held_out_part: int = 0

    @property
    def clip_samples(self) -> int:
        """Clip length in samples at ``sample_rate``."""
        return int(round(self.clip_seconds * self.sample_rate))


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
        ``configs/default.yaml`` holds the values measured on TAU22-mini's training
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
    export: bool = True
    qat_epochs: int = 0
    qat_learning_rate: float = 1e-4
    strategy: str = "default"
    devices: tuple[str, ...] = ()
    mixed_precision: str = "none"
    details_every: int = 10
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
    """

    teachers: tuple[str, ...] = ()
    teacher_weights: tuple[float, ...] = ()
    temperature: float = 2.0
    label_weight: float = 0.5
    soft_targets: str = "cached"
    teacher_input: str = "clip"
    teacher_set: Any = dataclasses.field(default_factory=dict)
    cross_fit_parts: int = 0


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


# ----------------------------------------------------------------------------- loading


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two YAML 1.1 traps closed: numbers in scientific notation
    without a dot or an exponent sign (``1e-4``, ``5e3``) are floats, as in YAML 1.2, not
    strings; and a key given twice in one mapping is an error naming the key and its line
    (PyYAML keeps the last silently)."""


ConfigLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"""),
    list("-+0123456789"))


def _construct_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' is given twice in one mapping (first on line {seen[key] + 1}); "
                f"only one value can hold", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str):
    """Parse YAML text with :class:`ConfigLoader` (safe: no Python objects)."""
    return yaml.load(text, Loader=ConfigLoader)


def _deep_merge(base: dict, update: Mapping) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(tree: dict, dotted: str, value: Any) -> dict:
    """Return a copy of ``tree`` with ``a.b.c = value`` (intermediate dicts created)."""
    head, _, rest = dotted.partition(".")
    out = dict(tree)
    if rest:
        child = out.get(head, {})
        if not isinstance(child, Mapping):
            raise ConfigError(f"cannot set '{dotted}': '{head}' is not a section")
        out[head] = _set_dotted(dict(child), rest, value)
    else:
        out[head] = value
    return out


def _apply_overrides(tree: dict, overrides: Mapping[str, Any]) -> dict:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and "." not in key:
            tree = _deep_merge(tree, {key: value})
        else:
            tree = _set_dotted(tree, key, value)
    return tree


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
        raise ConfigError(f"{source}: '{key}' must be {tp}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {value!r}")
        (item_tp, *_rest) = typing.get_args(tp) or (Any,)
        return tuple(_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, int) and not isinstance(value, bool):  # `train_split: 2` (a fold) means "2"
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{key}' must be a section (mapping), got {value!r}")
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


def config_path(name_or_path: str | Path) -> Path:
    """``submission3`` -> ``configs/submission3.yaml``; a path to a YAML file is kept."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"config file not found: {candidate}")
        return candidate
    path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"no config named '{name_or_path}' ({path}); known: {', '.join(known)}")
    return path


PATH_SETTINGS = ("data.root", "data.manifest", "data.subset_csv", "data.cache_dir", "augment.dir_folder",
                 "train.init_from")
"""Settings that name files or folders. A relative one is taken from the kasc clone in
kasc's own ``configs/`` and in a run folder's ``config.yaml``, from the YAML file's folder
in any other config file, and from the current directory in ``--set`` (``data.audio_dir``
is always taken from the manifest's folder)."""


def _anchor_paths(tree: dict, base: Path) -> dict:
    """``tree`` with the relative :data:`PATH_SETTINGS` made absolute from ``base``."""
    for dotted in PATH_SETTINGS:
        section, key = dotted.split(".")
        value = tree.get(section, {}).get(key) if isinstance(tree.get(section), Mapping) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            tree = _set_dotted(tree, dotted, str((base / Path(value).expanduser()).resolve()))
    return tree


def _is_run_config(path: Path) -> bool:
    """A run folder's resolved ``config.yaml`` (``kasc.files.runs``): its relative paths are the
    ones kasc's configs gave, from the kasc clone."""
    return path.name == "config.yaml" and any(
        (path.parent / marker).exists() for marker in ("metrics.json", "checkpoint", "training_log.csv", "model.keras",
                                                       ".kasc.lock"))


def _read_tree(path: Path, seen: tuple[Path, ...] = (), run_config: bool = False) -> tuple[dict, dict]:
    """Read a YAML file following ``extends``; return (tree, profiles). Relative paths of a
    file outside kasc's ``configs/`` are anchored at the file's folder (:data:`PATH_SETTINGS`)."""
    if path in seen:
        raise ConfigError(f"{path}: 'extends' cycle through {[str(p) for p in seen]}")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    raw = dict(raw)
    if path.resolve().parent != CONFIG_DIR.resolve() and not (run_config or _is_run_config(path)):
        raw = _anchor_paths(raw, path.resolve().parent)
    parent = raw.pop("extends", None)
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"{path}: 'profiles' must map profile names to overrides")
    parents = [parent] if isinstance(parent, str) else list(parent or [])
    if not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{path}: 'extends' must name a config or list configs, got {parent!r}")
    base_tree, base_profiles = {}, {}
    for name in parents:  # later parents win over earlier ones, the file over all of them
        tree, more_profiles = _read_tree(config_path(name), seen + (path,))
        base_tree = _deep_merge(base_tree, tree)
        base_profiles = _merge_profiles(base_profiles, more_profiles)
    return _deep_merge(base_tree, raw), _merge_profiles(base_profiles, profiles)


def _merge_profiles(base: Mapping, child: Mapping) -> dict:
    """Profiles of a parent and a child: a profile both define keeps the parent's
    overrides and takes the child's on top (a child adding one fast-profile setting keeps
    the parent's few-epochs, few-clips settings)."""
    merged = {name: dict(overrides or {}) for name, overrides in base.items()}
    for name, overrides in child.items():
        merged[name] = {**merged.get(name, {}), **(overrides or {})}
    return merged


def changed_settings(base: "ExperimentConfig", changed: "ExperimentConfig",
                     settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of ``settings`` (dotted keys) whose value differs between ``base`` and
    ``changed`` (the config loaded without and with them)."""
    def get(tree: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            tree = tree.get(part) if isinstance(tree, Mapping) else None
        return tree

    before, after = base.to_dict(), changed.to_dict()
    return {key: value for key, value in (settings or {}).items() if get(before, key) != get(after, key)}


def parse_teacher(entry: str) -> tuple[str, dict[str, Any]]:
    """A ``distill.teachers`` entry: a config name (or YAML path), optionally followed by
    settings of that teacher alone, ``"us8k_teacher_mn04_probe train.seed=1"`` ->
    ``("us8k_teacher_mn04_probe", {"train.seed": 1})`` (so a second seed of a teacher needs
    no copy of its config)."""
    name, *settings = entry.split()
    if not name:
        raise ConfigError(f"distill.teachers: an empty entry {entry!r}")
    return name, dict(parse_override(text) for text in settings)


def teacher_run_name(name: str, settings: Mapping[str, Any] | None) -> str:
    """The run folder name of teacher ``name`` under ``settings``: the name alone, or with
    each setting as ``--<last key part><value>`` in key order
    (``us8k_teacher_cnn--train_split2--valid_split1``)."""
    parts = [f"{key.rsplit('.', 1)[-1]}{value}" for key, value in sorted((settings or {}).items())]
    return "--".join([name, *("".join(c if c.isalnum() or c in "._-" else "_" for c in p) for p in parts)])


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=2"`` -> ``("train.epochs", 2)``; the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' must look like section.key=value")
    try:
        parsed = load_yaml(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override '{text}': value is not valid YAML: {err}") from err
    return key.strip(), parsed


def load_config(
    name_or_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    run_config: bool = False,
) -> ExperimentConfig:
    """Load a named experiment (or YAML path), apply a profile, then ``settings`` (dotted
    keys to values, e.g. a student's ``distill.teacher_set``), then ``--set`` overrides.
    ``run_config``: the file is a run folder's ``config.yaml`` (relative paths from the
    clone, as kasc's configs gave them; recognised by itself once the run has trained)."""
    path = config_path(name_or_path)
    tree, profiles = _read_tree(path, run_config=run_config)  # a run's config.yaml: paths from the clone
    if profile:
        if profile not in profiles:
            raise ConfigError(
                f"{path}: no profile '{profile}' (profiles: {', '.join(sorted(profiles)) or 'none'})"
            )
        tree = _apply_overrides(tree, profiles[profile])
    if settings:
        tree = _apply_overrides(tree, settings)
    for text in overrides:
        key, value = parse_override(text)
        if key in PATH_SETTINGS and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            value = str((Path.cwd() / Path(value).expanduser()).resolve())  # --set: from where the user stands
        tree = _set_dotted(tree, key, value)
    tree.setdefault("name", path.stem)
    source = (f"{path}" + (f" (profile {profile})" if profile else "") + (" + teacher_set" if settings else "")
              + (" + --set" if overrides else ""))
    cfg = from_dict(ExperimentConfig, tree, source=source)
    from kasc.config.validate import check_values

    check_values(cfg, source, teachers_must_exist=not (run_config or _is_run_config(path)))
    return cfg


def resolve_path(path: str, base: Path | None = None) -> Path:
    """A config path: absolute kept, ``~`` expanded, relative taken from the repo root."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return ((base or CONFIG_DIR.parent) / p).resolve()
