"""View banks: every teacher's logits on every pre-drawn view of the training clips
(``augment.views``, ``kasc.data.views``), rendered at the teacher's own sample rate and
heard through its own front end: the audio the student hears in the epochs that use each
view (consistent distillation). Cached like the clip logits of
:mod:`kasc.training.soft_targets` (same keys, plus the plan's digest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kasc.config import ExperimentConfig, FeatureConfig, resolve_path
from kasc.data.features import LogMel
from kasc.data.pipeline import SplitData, at_sample_rate
from kasc.data.table import DatasetError
from kasc.files.atomic import atomic_path
from kasc.models.blocks import logits_model
from kasc.training.soft_targets import cached_entry, key_source_of, teacher_front_end


def cached_view_logits(cfg: ExperimentConfig, data: SplitData, teacher_path: Path, plan,
                       responses_files: list[Path] | None = None, progress: bool = True) -> np.ndarray:
    """Logits (K, n_clips, C) of the teacher saved at ``teacher_path`` on every view of the
    plan (``kasc.data.views``), each rendered at the teacher's own sample rate from the
    split's clips decoded at that rate and heard through the teacher's own front end: the
    audio the student hears in the epochs that use that view. Cached like
    :func:`cached_teacher_logits` (the key adds the plan's digest); an interrupted
    computation resumes from the views it finished (``<entry>.partial.npy``)."""
    features, sample_rate = teacher_front_end(teacher_path, cfg)
    key_source = key_source_of(cfg, data, teacher_path, features, sample_rate, views=plan.digest(),
                             responses=[str(p) for p in responses_files or []])
    return cached_entry(cfg, teacher_path, key_source,
                   lambda path: _view_logits(cfg, data, teacher_path, plan, features, sample_rate, responses_files,
                                             path.with_suffix(".partial.npy"), progress))


def _view_logits(cfg: ExperimentConfig, data: SplitData, teacher_path: Path, plan, features: FeatureConfig,
                 sample_rate: int, responses_files: list[Path] | None, partial: Path, progress: bool,
                 batch_size: int = 128, save_every: int = 4) -> np.ndarray:
    """Run the teacher over every view; finished views are saved to ``partial`` every
    ``save_every`` views (and read back by a rerun). Batches of 128 label 1.13x faster than
    of 32 for both teachers (``benchmarks/distill_costs.py``, docs/distillation.md)."""
    import tensorflow as tf
    from tqdm import tqdm

    from kasc.data.views import render
    from kasc.models import load_model

    teacher = load_model(teacher_path)
    if teacher.output_shape[-1] != len(data.class_names):
        raise DatasetError(f"teacher {teacher_path} predicts {teacher.output_shape[-1]} classes; the data has "
                           f"{len(data.class_names)} ({', '.join(data.class_names)})")
    logits_of = logits_model(teacher)
    teacher_logmel = LogMel(features, sample_rate)
    label = tf.function(lambda audio: logits_of(teacher_logmel(audio), training=False), reduce_retracing=True)
    waveforms = at_sample_rate(cfg, data, sample_rate, progress).waveforms
    responses = None
    if responses_files:
        from kasc.data.impulse_responses import load_responses

        responses = load_responses(responses_files, sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
    done = []
    if partial.is_file():
        try:
            stored = np.load(partial)
            if stored.shape[1:] == (plan.clips, len(data.class_names)):
                done = list(stored)
        except (OSError, ValueError):  # a damaged partial file: start over
            done = []
    n = plan.clips
    bar = tqdm(total=plan.views * n, initial=len(done) * n, unit="view", desc=f"views {teacher_path.parent.name}",
               disable=not progress, mininterval=2.0)
    for view in range(len(done), plan.views):
        out = []
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            out.append(np.asarray(label(tf.constant(render(waveforms, plan, view, rows, responses)))))
            bar.update(len(rows))
        done.append(np.concatenate(out).astype(np.float32))
        if (view + 1) % save_every == 0 and view + 1 < plan.views:
            stack = np.stack(done)
            with atomic_path(partial, expected_bytes=stack.nbytes + 4096) as tmp:
                np.save(tmp, stack)
    bar.close()
    partial.unlink(missing_ok=True)
    return np.stack(done)
