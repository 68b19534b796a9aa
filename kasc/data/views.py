"""Pre-drawn augmented views of the training clips, shared by teachers and student.

Consistent distillation (Beyer et al., "Knowledge distillation: A good teacher is patient
and consistent", CVPR 2022) needs the teachers' targets to come from the very audio the
student hears. With ``augment.views: K`` (K > 0) every training clip gets K views drawn
once from the seed ``augment.seed``: view v of clip i is

    x_v,i = g * speed_r(lam * shift(x_i, s) + (1 - lam) * shift(x_j, s'))   then, maybe, * DIR

with the partner clip j != i, the mixing weight lam ~ Beta(alpha, alpha) (with
probability ``augment.mixup_prob``, else 1), circular shifts s, s' (fractions of the clip,
with probability ``augment.shift_prob``, else 0), a gain g of a uniform
+-``augment.gain_db`` dB, a playback speed r = 2^(u/12), u uniform in
+-``augment.speed_semitones`` (the mixture resampled so that it plays r times faster, its
pitches u semitones higher, looped as the clips are; :func:`speed_fraction`), and with probability
``augment.dir_prob`` a device impulse response convolved in (its index, not its samples,
is drawn). A :class:`ViewPlan` holds
these numbers, (K, n) arrays; :func:`render` makes the waveforms of one view at any sample
rate from that rate's decoded clips, so the student (16 kHz) and a teacher with its own
front end (the 32 kHz AudioSet teacher) get the same mixture, shift, gain and response.
Labels of a view are mixed with lam (:func:`view_labels`).

In epoch e the student trains on view e mod K of every clip (``kasc.data.pipeline``);
augmentations of its own log-mel (masks, time stretch, Freq-MixStyle) still apply on top,
mixup does not (it happened on the waveforms). The teachers label the K views once
(``kasc.training.teachers.view_bank.view_logits_of_one_teacher``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly, fftconvolve

from kasc.data.audio import from_int16

VIEW_SALT = 0x76696577
"""Mixed into ``augment.seed`` so that the view draws are independent of other seeded draws."""


@dataclasses.dataclass(frozen=True)
class ViewPlan:
    """K views of n clips: each array has shape (K, n).

    Attributes:
      partner: int64, the clip mixed into clip i (never i itself when n > 1).
      mix: float32 in [0, 1], the weight lam of clip i (1: not mixed).
      shift: float32 in [0, 1), circular shift of clip i as a fraction of the clip length.
      partner_shift: float32 in [0, 1), the same for the partner.
      gain_db: float32, gain of the view in dB.
      response: int32, the impulse response convolved in (index into the responses), -1: none.
      speed: float32 > 0, playback speed of the view (1: unchanged; 2^(u/12) for u semitones).
    """

    partner: np.ndarray
    mix: np.ndarray
    shift: np.ndarray
    partner_shift: np.ndarray
    gain_db: np.ndarray
    response: np.ndarray
    speed: np.ndarray | None = None  # None: every view at speed 1

    def __post_init__(self):
        if self.speed is None:
            object.__setattr__(self, "speed", np.ones(self.partner.shape, np.float32))

    @property
    def views(self) -> int:
        return int(self.partner.shape[0])

    @property
    def clips(self) -> int:
        return int(self.partner.shape[1])

    def digest(self) -> str:
        """SHA-256 over every array's bytes (hex, 16 characters): names the plan in cache keys.
        A plan whose views all play at speed 1 has the digest it had before speeds existed,
        so view banks cached then stay valid."""
        digest = hashlib.sha256()
        for field in dataclasses.fields(self):
            if field.name == "speed" and (self.speed == 1.0).all():
                continue
            array = np.ascontiguousarray(getattr(self, field.name))
            digest.update(field.name.encode() + str(array.dtype).encode() + str(array.shape).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()[:16]


def draw_views(n_clips: int, views: int, seed: int, mixup_prob: float = 1.0, mixup_alpha: float = 0.3,
               shift_prob: float = 0.0, gain_db: float = 0.0, dir_prob: float = 0.0,
               n_responses: int = 0, speed_semitones: float = 0.0) -> ViewPlan:
    """Draw the plan of ``views`` views of ``n_clips`` clips from ``seed`` (numpy's PCG64,
    so the same arguments give the same plan on every machine; the speeds are drawn last,
    so a plan without them is the plan drawn before they existed)."""
    if views < 1 or n_clips < 1:
        raise ValueError(f"need at least one view and one clip, got {views} views of {n_clips} clips")
    if dir_prob > 0 and n_responses < 1:
        raise ValueError("augment.dir_prob > 0 needs impulse responses to draw from")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, VIEW_SALT])  # any int seed, -1 (unset) included
    shape = (views, n_clips)
    clips = np.arange(n_clips)[None, :]
    partner = ((clips + 1 + rng.integers(0, n_clips - 1, shape)) % n_clips if n_clips > 1
               else np.zeros(shape, np.int64))
    lam = rng.beta(mixup_alpha, mixup_alpha, shape)
    mix = np.where(rng.uniform(size=shape) < mixup_prob, lam, 1.0)
    shift = np.where(rng.uniform(size=shape) < shift_prob, rng.uniform(size=shape), 0.0)
    partner_shift = np.where(rng.uniform(size=shape) < shift_prob, rng.uniform(size=shape), 0.0)
    gain = rng.uniform(-gain_db, gain_db, shape) if gain_db > 0 else np.zeros(shape)
    response = np.where(rng.uniform(size=shape) < dir_prob, rng.integers(0, max(n_responses, 1), shape), -1)
    speed = (2.0 ** (rng.uniform(-speed_semitones, speed_semitones, shape) / 12.0) if speed_semitones > 0
             else np.ones(shape))
    return ViewPlan(partner.astype(np.int64), mix.astype(np.float32), shift.astype(np.float32),
                    partner_shift.astype(np.float32), gain.astype(np.float32), response.astype(np.int32),
                    speed.astype(np.float32))


def plan_for(augment, n_clips: int, n_responses: int = 0) -> ViewPlan:
    """The plan of a config's ``augment`` section (``augment.views`` views drawn from
    ``augment.views_seed``, or ``augment.seed`` if that is -1) for ``n_clips`` clips."""
    seed = augment.seed if augment.views_seed == -1 else augment.views_seed
    return draw_views(n_clips, augment.views, seed, augment.mixup_prob, augment.mixup_alpha,
                      augment.shift_prob, augment.gain_db, augment.dir_prob, n_responses, augment.speed_semitones)


def _shifted(clips: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Each row rolled right by round(fraction * samples) samples (circularly)."""
    samples = clips.shape[1]
    offsets = np.rint(fraction.astype(np.float64) * samples).astype(np.int64) % samples
    if not offsets.any():
        return clips
    columns = (np.arange(samples)[None, :] - offsets[:, None]) % samples
    return np.take_along_axis(clips, columns, axis=1)


SPEED_DENOMINATOR = 100
"""A view's speed is played as the nearest fraction down/up with up <= 100 (within 1e-4 of
it): a polyphase resampling by integers, the same fraction at every sample rate."""


def speed_fraction(speed: float) -> Fraction:
    """The fraction a speed is played at (``down / up``: ``up`` output samples per ``down`` input samples)."""
    return Fraction(float(speed)).limit_denominator(SPEED_DENOMINATOR)


def _speed_changed(clips: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Each row (one period of a looped clip) played ``speed`` times faster, looped, cut to
    its length: output sample t is the row at time speed * t (circularly).

    Polyphase resampling by the integers of :func:`speed_fraction` (scipy's
    ``resample_poly``, band-limited) of the row extended circularly on both sides by a
    whole number of ``down`` samples, so that output sample 0 falls exactly on input
    sample 0 at every sample rate: the student's and the teachers' renderings of a view
    are the same sound. Content pushed above the rate's Nyquist frequency is dropped.
    About 1 ms per 4 s row at 16 kHz."""
    changed = speed != 1.0
    if not changed.any():
        return clips

    samples = clips.shape[1]
    out = clips.copy()
    for row in np.flatnonzero(changed):
        fraction = speed_fraction(speed[row])
        down, up = fraction.numerator, fraction.denominator
        if down == up:
            continue
        lead = -(-256 // down)  # whole down-blocks of context before time 0 (>= 256 samples)
        pad = lead * down
        extended = np.resize(np.roll(clips[row], pad), pad + int(np.ceil(float(fraction) * samples)) + pad)
        out[row] = resample_poly(extended, up, down)[lead * up:lead * up + samples]
    return out


def render(waveforms: np.ndarray, plan: ViewPlan, view: int, rows: np.ndarray,
           responses: np.ndarray | None = None) -> np.ndarray:
    """The waveforms of view ``view`` of the clips ``rows``.

    Args:
      waveforms: int16 (n_clips, samples) at any sample rate: the split's decoded clips,
        in the plan's clip order (memory-mapped cache entries are fine).
      plan: the views.
      view: which view, 0 <= view < plan.views.
      rows: int (batch,) clip indices.
      responses: float32 (n_responses, response_samples) at the rate of ``waveforms``;
        needed when the plan convolves any of these clips.

    Returns:
      float32 (batch, samples), values about [-1, 1] times the gain.
    """
    rows = np.asarray(rows, dtype=np.int64)
    own = from_int16(np.asarray(waveforms[rows]))
    partners = plan.partner[view, rows]
    lam = plan.mix[view, rows]
    out = _shifted(own, plan.shift[view, rows]) * lam[:, None]
    mixed = lam < 1.0
    if mixed.any():
        other = from_int16(np.asarray(waveforms[partners[mixed]]))
        out[mixed] += _shifted(other, plan.partner_shift[view, rows][mixed]) * (1.0 - lam[mixed])[:, None]
    out = _speed_changed(out, plan.speed[view, rows])
    out *= (10.0 ** (plan.gain_db[view, rows] / 20.0))[:, None].astype(np.float32)
    chosen = plan.response[view, rows]
    convolve = chosen >= 0
    if convolve.any():
        if responses is None:
            raise ValueError("this view convolves impulse responses: pass responses at the clips' sample rate")

        samples = out.shape[1]
        out[convolve] = fftconvolve(out[convolve], responses[chosen[convolve]], axes=1)[:, :samples]
    return out.astype(np.float32, copy=False)


def view_labels(labels: np.ndarray, plan: ViewPlan, view: int, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """Mixed one-hot labels (batch, n_classes) of view ``view`` of the clips ``rows``:
    lam * onehot(label_i) + (1 - lam) * onehot(label_partner)."""
    rows = np.asarray(rows, dtype=np.int64)
    eye = np.eye(n_classes, dtype=np.float32)
    lam = plan.mix[view, rows][:, None]
    return lam * eye[labels[rows]] + (1.0 - lam) * eye[labels[plan.partner[view, rows]]]
