"""View banks: every teacher's logits on every pre-drawn view of the training clips
(``augment.views``, ``kasc.data.views``), rendered at the teacher's own sample rate and
heard through its own front end: the audio the student hears in the epochs that use each
view (consistent distillation). Cached like the clip logits of
:mod:`kasc.training.teachers.soft_targets` (same keys, plus the plan's digest). Teachers that share
their network up to the head (heads on one frozen AudioSet backbone) are run together.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import keras
import tensorflow as tf

from kasc.cli import progress_bar
from kasc.config import ExperimentConfig, FeatureConfig, resolve_path
from kasc.data.features import LogMel
from kasc.data.impulse_responses import load_responses
from kasc.data.pipeline import SplitData, at_sample_rate
from kasc.data.table import DatasetError
from kasc.data import views as view_rendering  # its render: the tests stop it mid-bank
from kasc.files.atomic import atomic_path
from kasc.models import load_model
from kasc.training.teachers.soft_targets import cache_entry_path, cached_entries, key_source_of, read_entry, teacher_front_end

# the first layer of a teacher's head where its network has one (kasc.models.efficientat):
# teachers that differ only from there on share the rest when labelling views
HEAD_STARTS_AT = "head_dense"


def view_logits_of_one_teacher(cfg: ExperimentConfig, data: SplitData, teacher_path: Path, plan,
                       responses_files: list[Path] | None = None, progress: bool = True) -> np.ndarray:
    """Logits (K, n_clips, C) of the teacher saved at ``teacher_path`` on every view of the
    plan (``kasc.data.views``), each rendered at the teacher's own sample rate from the
    split's clips decoded at that rate and heard through the teacher's own front end: the
    audio the student hears in the epochs that use that view. Cached like
    :func:`cached_teacher_logits` (the key adds the plan's digest); an interrupted
    computation resumes from the views it finished (``<entry>.partial.npy``)."""
    return view_logits_of_teachers(cfg, data, [teacher_path], plan, responses_files, progress)[0]


def view_logits_of_teachers(cfg: ExperimentConfig, data: SplitData, teacher_paths: list[Path], plan,
                          responses_files: list[Path] | None = None, progress: bool = True) -> list[np.ndarray]:
    """:func:`view_logits_of_one_teacher` of each teacher, in order. Teachers not cached yet that
    hear the views through the same front end and share their network up to their head
    (:func:`split_at_head`: the same weights there, e.g. heads trained on one frozen AudioSet
    backbone) are run together: each batch of views is rendered, turned into log-mel and
    passed through that backbone once, then through each head. Each teacher's entry is the
    one it would get alone (same key, the same logits: the same operations)."""
    fronts = [teacher_front_end(path, cfg.features, cfg.data.sample_rate) for path in teacher_paths]
    keys = [key_source_of(cfg.data, data, path, features, rate, views=plan.digest(),
                          responses=[str(p) for p in responses_files or []])
            for path, (features, rate) in zip(teacher_paths, fronts)]
    entries = [cache_entry_path(cfg.data, path, key) for path, key in zip(teacher_paths, keys)]
    out = [read_entry(entry) for entry in entries]
    groups: dict[tuple, list[int]] = {}
    for i, path in enumerate(teacher_paths):
        if out[i] is None:
            teacher = load_model(path)
            if teacher.output_shape[-1] != len(data.class_names):
                raise DatasetError(f"teacher {path} predicts {teacher.output_shape[-1]} classes; the data has "
                                   f"{len(data.class_names)} ({', '.join(data.class_names)})")
            backbone, head = split_at_head(teacher)
            features, rate = fronts[i]
            group = (json.dumps(features.computation(), sort_keys=True), rate, weights_digest(backbone))
            groups.setdefault(group, []).append((i, backbone, head))
    for members in groups.values():
        rows = [i for i, _, _ in members]
        features, rate = fronts[rows[0]]
        heads = [head for _, _, head in members]
        names = ", ".join(teacher_paths[i].parent.name for i in rows)
        group_entries = [entries[i] for i in rows]
        arrays = cached_entries(group_entries, lambda: _view_logits(
            cfg, data, members[0][1], heads, plan, features, rate, responses_files,
            group_entries[0].with_suffix(".partial.npy"), progress, names))
        for i, array in zip(rows, arrays):
            out[i] = array
    return out


def split_at_head(model):
    """(backbone, head) of a classifier: the backbone maps its input to the input of its
    head's first layer (``head_dense`` where the network has one, as EfficientAT does, else
    ``logits``); the head maps that to the logits. head(backbone(x)) is the logits model."""
    names = {layer.name for layer in model.layers}
    cut = model.get_layer(HEAD_STARTS_AT if HEAD_STARTS_AT in names else "logits").input
    return keras.Model(model.input, cut), keras.Model(cut, model.get_layer("logits").output)


def weights_digest(model) -> str:
    """SHA-256 (hex) over a model's weights (trainable and not: batch-norm statistics too)."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _view_logits(cfg: ExperimentConfig, data: SplitData, backbone, heads: list, plan, features: FeatureConfig,
                 sample_rate: int, responses_files: list[Path] | None, partial: Path, progress: bool, name: str,
                 batch_size: int = 128, save_every: int = 4) -> list[np.ndarray]:
    """Run the teachers (one backbone, one head each) over every view; return each
    teacher's (K, n_clips, C) logits. Finished views are saved to ``partial`` every
    ``save_every`` views, (views, teachers, n_clips, C), and read back by a rerun. Batches of
    128 label 1.13x faster than of 32 for both teachers (``benchmarks/distill_costs.py``,
    docs/studies/distillation.md)."""
    teacher_logmel = LogMel(features, sample_rate)

    def label_views(audio):
        embedding = backbone(teacher_logmel(audio), training=False)
        return tf.stack([head(embedding, training=False) for head in heads])

    label = tf.function(label_views, reduce_retracing=True)
    waveforms = at_sample_rate(cfg.data, data, sample_rate, progress, label=cfg.name).waveforms
    responses = None
    if responses_files:
        responses = load_responses(responses_files, sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
    n = plan.clips
    done = []
    if partial.is_file():
        try:
            stored = np.load(partial)
            if stored.ndim == 3 and len(heads) == 1:  # written before teachers were run together
                stored = stored[:, None]
            if stored.shape[1:] == (len(heads), n, len(data.class_names)):
                done = list(stored)
        except (OSError, ValueError):  # a damaged partial file: start over
            done = []
    bar = progress_bar(total=plan.views * n, initial=len(done) * n, unit="view", desc=f"views {name}",
                       enabled=progress)
    for view in range(len(done), plan.views):
        out = []
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            out.append(np.asarray(label(tf.constant(view_rendering.render(waveforms, plan, view, rows, responses)))))
            bar.update(len(rows))
        done.append(np.concatenate(out, axis=1).astype(np.float32))
        if (view + 1) % save_every == 0 and view + 1 < plan.views:
            stack = np.stack(done)
            with atomic_path(partial, expected_bytes=stack.nbytes + 4096) as tmp:
                np.save(tmp, stack)
    bar.close()
    partial.unlink(missing_ok=True)
    views = np.stack(done)  # (K, teachers, n_clips, C)
    return [views[:, t] for t in range(len(heads))]
