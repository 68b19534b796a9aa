"""kasc: low-complexity acoustic scene classification in Keras/TensorFlow.

An implementation of the DCASE 2023 Task 1 system "Acoustic scene classification based on
multi-teacher knowledge distillation and SERFR-CNN" (Fei, Li, Jia).
"""

import os

# TensorFlow's C++ start-up chatter (CPU feature notes) hides kasc's own output;
# users can still set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
