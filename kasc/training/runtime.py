"""Process-wide TensorFlow runtime settings that must be made before TensorFlow runs its
first op: CPU thread pools.

TensorFlow runs each op on up to ``intra_op`` threads and up to ``inter_op`` independent
ops at once; by default both are one per core. On 2 cores neither alternative was clearly
better (``benchmarks/cpu_paths.py``, README "CPU kernels and speed": the student within
6 % either way, the teachers up to 1.3x slower with one thread per op), so kasc keeps
TensorFlow's choice; configs can set ``train.intra_op_threads`` /
``train.inter_op_threads`` for other machines.
"""

from __future__ import annotations

import os
from pathlib import Path


def set_cpu_threads(intra_op: int, inter_op: int) -> bool:
    """Set TensorFlow's thread pools (0 keeps TensorFlow's choice). Returns False, changing
    nothing, if TensorFlow has already started its runtime in this process (then the
    pools are fixed): call it before any TensorFlow op."""
    # TensorFlow on first use: --help and config errors answer before it loads
    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError:
        return False
    return True


class _DropExpectedRetracing:
    """A logging filter dropping TensorFlow's "triggered tf.function retracing" warning."""

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_expected_retracing() -> None:
    """Silence TensorFlow's retracing warning in kasc's commands. A training command
    evaluates several models in a row (each teacher, the ensemble, the student, Keras and
    TFLite), and Keras traces one predict function per model: TensorFlow counts these as
    retracing and warns, although nothing is traced twice. Other warnings stay."""
    # TensorFlow on first use: --help and config errors answer before it loads
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _DropExpectedRetracing) for f in logger.filters):
        logger.addFilter(_DropExpectedRetracing())


def _cpu_flags() -> set[str]:
    """The ``flags`` of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX BF16), where
    ``mixed_bfloat16`` trains the student faster (``benchmarks/distill_costs.py``)."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_mixed_precision(setting: str) -> str:
    """``train.mixed_precision`` for this machine: ``auto`` becomes ``mixed_bfloat16``
    where :func:`cpu_has_bfloat16`, else ``none``; other settings are returned as they are."""
    if setting != "auto":
        return setting
    return "mixed_bfloat16" if cpu_has_bfloat16() else "none"


def cpu_summary() -> str:
    """``"2 cores of <model name> (AVX-512 BF16: yes)"``, read from ``/proc/cpuinfo``
    (benchmarks print it beside their figures: speeds differ between machines)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{os.cpu_count()} cores (no /proc/cpuinfo)"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 "unknown CPU")
    flags = _cpu_flags()
    features = ", ".join(f"{name}: {'yes' if flag in flags else 'no'}"
                         for name, flag in (("AVX-512", "avx512f"), ("AVX-512 BF16", "avx512_bf16"), ("AMX", "amx_bf16")))
    return f"{os.cpu_count()} cores of {model} ({features})"
