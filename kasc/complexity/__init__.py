"""The complexity audit (``python -m kasc.complexity``): parameters, parameter bytes and
MACs of a model file (:mod:`kasc.complexity.costs`) and the DCASE 2023 verdict
(:mod:`kasc.complexity.verdict`)."""

from kasc.complexity.costs import (DCASE2023_MAX_MACS, DCASE2023_MAX_PARAM_BYTES, DEFAULT_INPUT_SHAPE, Audit,
                                   LayerCost, audit_file, audit_keras, audit_tflite, format_table)
from kasc.complexity.verdict import dcase2023_verdict

__all__ = ["DCASE2023_MAX_MACS", "DCASE2023_MAX_PARAM_BYTES", "DEFAULT_INPUT_SHAPE", "Audit", "LayerCost", "audit_file",
           "audit_keras", "audit_tflite", "dcase2023_verdict", "format_table"]
