"""The one DCASE 2023 verdict of a trained model, per 1 s of audio as DCASE counts: from
its run's config (the network's MACs on 1 s of input) or, for a file outside a run
folder, from the seconds its input holds."""

from __future__ import annotations

from pathlib import Path

from kasc.complexity.costs import DCASE2023_MAX_MACS, DCASE2023_MAX_PARAM_BYTES, Audit, audit_keras
from kasc.config import load_config
from kasc.data.features import frames_for
from kasc.models import FIXED_INPUT_ARCHITECTURES, load_model


def per_second_complexity(cfg, model, int8_audit: dict) -> dict:
    """The DCASE 2023 verdict, whose MAC limit is per 1 s of audio: parameter bytes of the
    int8 file, and MACs of the network on 1 s of input (exact for networks that take any
    frame count; for a fixed-input network trained on longer clips, its clip MACs divided
    by the clip length in seconds)."""
    if cfg.model.architecture in FIXED_INPUT_ARCHITECTURES:
        macs, basis = int(round(int8_audit["macs"] / cfg.data.clip_seconds)), f"clip MACs / {cfg.data.clip_seconds:g} s"
    else:
        frames = frames_for(cfg.features, cfg.data.sample_rate)
        macs, basis = audit_keras(model, (frames, cfg.features.n_mels, 1)).macs, f"{frames} frames (1 s)"
    return dcase2023_verdict(int8_audit["param_bytes"], macs, basis)


def verdict_for_file(path: Path, audit: Audit, seconds: float | None = None) -> dict:
    """The one DCASE 2023 verdict of a model file, per 1 s of audio as DCASE counts and
    as training writes it to ``complexity.json``: in a run folder (``config.yaml`` beside
    the file), :func:`per_second_complexity` with the run's ``model.keras``; otherwise
    the audit's MACs divided by ``seconds`` (the audio its input holds; default 1)."""
    path = Path(path)
    config_file, keras_file = path.parent / "config.yaml", path.parent / "model.keras"
    if config_file.is_file() and keras_file.is_file() and seconds is None:
        return per_second_complexity(load_config(config_file), load_model(keras_file), audit.to_dict())
    seconds = 1.0 if seconds is None else seconds
    if not seconds > 0:
        raise ValueError(f"--seconds must be > 0, got {seconds}")
    return dcase2023_verdict(audit.param_bytes, int(round(audit.macs / seconds)),
                             f"input {tuple(audit.input_shape)} taken as {seconds:g} s")


def dcase2023_verdict(param_bytes: int, macs_per_second: int, basis: str) -> dict:
    """The verdict record (``complexity.json``'s ``dcase2023_limits``): the figures, how
    the MACs per second were counted, the limits and ``within_limits``."""
    return {"param_bytes": param_bytes, "macs_per_second": macs_per_second, "macs_basis": basis,
            "max_param_bytes": DCASE2023_MAX_PARAM_BYTES, "max_macs": DCASE2023_MAX_MACS,
            "within_limits": param_bytes <= DCASE2023_MAX_PARAM_BYTES and macs_per_second <= DCASE2023_MAX_MACS}
