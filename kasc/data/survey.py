"""What the training files hold, read from their headers before anything is decoded: their
durations and sample rates, the clip length that suits them (``data.clip_length: median``),
and one note per surprise (files recorded below ``data.sample_rate``, windows mostly zero
padding, audio beyond the window that is never heard).

Headers only (``soundfile.info``), at most :data:`MAX_SURVEYED` files spread evenly over the
split, so that a survey of 200,000 TAU segments costs what one of 2,000 does. A file whose
header cannot be read is left out here; decoding it later says what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Sequence

import numpy as np
import soundfile as sf

from kasc.config import AugmentConfig, ConfigError, DataConfig, ExperimentConfig
from kasc.config.validate import check_clip_settings
from kasc.data.datasets import load_split

MAX_SURVEYED = 2000
"""Files whose headers a survey reads at most (spread evenly over the split)."""

SHORTEST_CLIP_SECONDS = 0.5
"""``clip_length: median`` never picks less (16 kHz, n_fft 2048, hop 512: 12 frames, the
fewest on which the student's two time masks of up to 3 frames erase at most half)."""

LONGEST_CLIP_SECONDS = 10.0
"""``clip_length: median`` never picks more (DCASE's recordings; the audit's MACs are per
second of audio, so a longer clip costs proportionally more per clip, not per second)."""

PADDING_NOTE_SHARE = 0.25
"""A note when more than this share of the training windows is zero padding."""

UNHEARD_NOTE_SHARE = 0.25
"""A note when more than this share of the training audio lies beyond the window."""


@dataclasses.dataclass(frozen=True)
class DataSurvey:
    """Durations and rates of (a sample of) one split's clips.

    Attributes:
      clips: clips in the split.
      surveyed: clips whose headers were read (at most :data:`MAX_SURVEYED`).
      seconds: duration of each surveyed clip in seconds (a rebuilt recording: the sum of
        its segments), shape (surveyed,).
      rates: each surveyed clip's sample rate in Hz (of its first file), shape (surveyed,).
    """

    clips: int
    surveyed: int
    seconds: np.ndarray
    rates: np.ndarray

    @property
    def median_seconds(self) -> float:
        return float(np.median(self.seconds)) if self.surveyed else 0.0

    def audio_hours(self) -> float:
        """Hours of audio in the whole split (the surveyed mean duration times the clips)."""
        return float(self.seconds.mean() * self.clips / 3600.0) if self.surveyed else 0.0

    def padded_share(self, clip_seconds: float) -> float:
        """Share of the windows of ``clip_seconds`` that is zero padding (clips shorter than
        the window are padded)."""
        if not self.surveyed:
            return 0.0
        return float(np.maximum(clip_seconds - self.seconds, 0.0).sum() / (clip_seconds * self.surveyed))

    def unheard_share(self, clip_seconds: float) -> float:
        """Share of the clips' audio beyond the window (longer clips are cut at its end)."""
        total = float(self.seconds.sum())
        return float(np.maximum(self.seconds - clip_seconds, 0.0).sum() / total) if total > 0 else 0.0


def survey_items(items: Sequence[Sequence[str]]) -> DataSurvey:
    """Read the headers of (at most :data:`MAX_SURVEYED` of) ``items``, each a clip given as
    its file paths (one file, or the segments of a rebuilt recording)."""
    items = list(items)
    clips = len(items)
    if clips > MAX_SURVEYED:
        rows = np.linspace(0, len(items) - 1, MAX_SURVEYED).round().astype(int)
        items = [items[i] for i in rows]
    seconds, rates = [], []
    for paths in items:
        try:
            infos = [sf.info(str(path)) for path in paths]
        except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
            continue  # decoding it later names the file and what is wrong
        if not infos or any(info.samplerate <= 0 for info in infos):
            continue
        seconds.append(sum(info.frames / info.samplerate for info in infos))
        rates.append(infos[0].samplerate)
    return DataSurvey(clips, len(seconds),
                      np.asarray(seconds, dtype=np.float64), np.asarray(rates, dtype=np.int64))


def survey_split(data: DataConfig, split: str = "train") -> DataSurvey:
    """The survey of the ``split`` of the ``data`` section (the table as training reads it)."""
    return survey_items(load_split(data, split)["paths"].tolist())


def clip_seconds_for(survey: DataSurvey) -> float:
    """The clip length ``data.clip_length: median`` picks: the median duration of the
    training clips, rounded up to a tenth of a second, within
    [:data:`SHORTEST_CLIP_SECONDS`, :data:`LONGEST_CLIP_SECONDS`]."""
    if not survey.surveyed:
        raise ConfigError("data.clip_length 'median': no training file has a readable header to measure its duration")
    tenths = math.ceil(round(survey.median_seconds * 10.0, 6))
    return float(min(max(tenths / 10.0, SHORTEST_CLIP_SECONDS), LONGEST_CLIP_SECONDS))


def with_clip_length(cfg: ExperimentConfig, survey: DataSurvey) -> ExperimentConfig:
    """``cfg`` with ``data.clip_seconds`` picked from ``survey`` if ``data.clip_length`` is
    ``median`` (else as it is), checked again (masks must still fit the new clip)."""
    if cfg.data.clip_length != "median":
        return cfg

    picked = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, clip_seconds=clip_seconds_for(survey)))
    check_clip_settings(picked, f"{cfg.name} (data.clip_length 'median' picked data.clip_seconds "
                                f"{picked.data.clip_seconds:g} from the training files)")
    return picked


def data_notes(data: DataConfig, augment: AugmentConfig, survey: DataSurvey) -> list[str]:
    """One line per surprise in the training files (``survey``) read as the ``data`` section
    says, each naming what to change (``augment``: whether short clips are placed at random)."""
    if not survey.surveyed:
        return []
    notes = []
    clip = data.clip_seconds
    sampled = "" if survey.surveyed == survey.clips else f" (of {survey.surveyed} surveyed)"
    low = survey.rates < data.sample_rate
    if low.any():
        rates = ", ".join(f"{rate} Hz" for rate, _ in Counter(survey.rates[low].tolist()).most_common(3))
        lowest = int(survey.rates[low].min())
        notes.append(f"{int(low.sum())} of {survey.surveyed} training files{sampled} are recorded below "
                     f"data.sample_rate {data.sample_rate} Hz ({rates}): they are upsampled, and the mel bands "
                     f"above {lowest // 2} Hz hold nothing of them (data.sample_rate={lowest} matches them, with "
                     f"features.n_fft and features.hop_samples scaled by {lowest}/{data.sample_rate} to keep "
                     f"the frames per second)")
    padded = survey.padded_share(clip)
    if padded > PADDING_NOTE_SHARE:
        placed = ("placed at a random point of the window in training (augment.shift_prob "
                  f"{augment.shift_prob:g})" if augment.views and augment.shift_prob > 0
                  else "starting at its first frame (augment.views with augment.shift_prob places short clips at "
                       "random)")
        notes.append(f"{padded:.0%} of the {clip:g} s training windows is zero padding (median clip "
                     f"{survey.median_seconds:.2f} s), each clip {placed}; data.clip_length median picks the clip "
                     f"length from the files")
    unheard = survey.unheard_share(clip)
    if unheard > UNHEARD_NOTE_SHARE:
        notes.append(f"{unheard:.0%} of the training audio is never heard: clips are cut after data.clip_seconds "
                     f"{clip:g} s (median clip {survey.median_seconds:.2f} s; --set data.clip_seconds=... or "
                     f"data.clip_length=median for more)")
    return notes
