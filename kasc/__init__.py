"""kasc: low-complexity acoustic scene classification in Keras/TensorFlow.

An implementation of the DCASE 2023 Task 1 system "Acoustic scene classification based on
multi-teacher knowledge distillation and SERFR-CNN" (Fei, Li, Jia).
"""

import os

# TensorFlow's C++ start-up chatter hides kasc's own output: CPU feature notes, and on every
# machine without a GPU an E-level "failed call to cuInit" line that looks like a failure.
# Level 3 keeps only fatal C++ messages; TensorFlow's errors still reach kasc as Python
# exceptions, which kasc reports. Users can set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
# (The notes TensorFlow prints while it is imported ignore this setting: kasc.startup
# holds them back.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with AVX-512-class
# features; elsewhere (most AMD and many Intel CPUs) it runs the slower Eigen kernels.
# oneDNN trained every kasc network faster in benchmarks/cpu_paths.py (README,
# "CPU kernels"), so kasc asks for it before TensorFlow is first imported. A user's own
# setting wins: TF_ENABLE_ONEDNN_OPTS=0 selects Eigen. This has no effect if TensorFlow
# was imported before kasc.
ONEDNN_DEFAULT = "1"
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)

__version__ = "0.1.0"

from kasc import startup  # noqa: E402 - after the environment defaults above

startup.install()  # a quiet TensorFlow import; kasc's layers registered once Keras is imported
