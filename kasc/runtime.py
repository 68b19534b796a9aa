"""Process-wide TensorFlow runtime settings that must be made before TensorFlow runs its
first op: CPU thread pools.

TensorFlow runs each op on up to ``intra_op`` threads and up to ``inter_op`` independent
ops at once. Its default (both: one per core) suits large convolutions; kasc's student
has narrow convolutions whose per-op parallel overhead outweighs the work, and on 2
cores it trained about 1.4x faster with one thread per op and two ops at once, while
the teachers trained about 1.2x slower that way (``benchmarks/cpu_paths.py``, README
"CPU kernels"). Configs choose with ``train.intra_op_threads`` / ``train.inter_op_threads``.
"""

from __future__ import annotations


def set_cpu_threads(intra_op: int, inter_op: int) -> bool:
    """Set TensorFlow's thread pools (0 keeps TensorFlow's choice). Returns False, changing
    nothing, if TensorFlow has already started its runtime in this process (then the
    pools are fixed): call it before any TensorFlow op."""
    import tensorflow as tf

    try:
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError:
        return False
    return True
