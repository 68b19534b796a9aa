"""The paths a prediction reads and writes: the audio files given (files, or folders searched
recursively) and the output files, checked before any work so that nothing is replaced
that the user did not mean to replace."""

from __future__ import annotations

import os
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")


def find_audio(inputs: list[Path]) -> list[Path]:
    """Files given, plus audio files found recursively in folders given (sorted)."""
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            files.append(item)
    return files


def unusable_output(path: Path) -> str:
    """Why ``path`` cannot take the output CSV ("" if it can): checked before any work."""
    if path.is_dir():
        return "is a directory; give a file name, e.g. predictions.csv"
    folder = (path.parent if str(path.parent) else Path(".")).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())  # missing folders are created
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "cannot be written (permissions)"
    return ""


def clobbered_input(outputs: dict[str, Path], model: Path, audio: list[Path]) -> str:
    """Why the output files ``outputs`` (option -> path) would destroy something ("" if not):
    two options naming one file, an audio file given to label (by name, a shell glob, or in a
    folder given), or a file of the model or of its run folder. Checked before any work."""
    given = {option: path.resolve() for option, path in outputs.items() if path}
    seen: dict[Path, str] = {}
    for option, path in given.items():
        if path in seen:
            return f"{seen[path]} and {option} name the same file {outputs[option]}: only one would survive"
        seen[path] = option
    audio_files = {p.resolve() for p in find_audio([a for a in audio if a.exists()])}
    model_folder = model.resolve() if model.is_dir() else model.resolve().parent
    for option, path in given.items():
        if path in audio_files:
            return f"{option} {outputs[option]} is one of the audio files to label: it would be replaced"
        if path == model.resolve() or (path.is_file() and path.parent == model_folder
                                       and (model.is_dir() or (model_folder / "config.yaml").is_file())):
            return f"{option} {outputs[option]} is a file of the model's run folder {model_folder}: it would be replaced"
    return ""
