"""The complexity audit (``python -m kasc.complexity``): parameters, parameter bytes and
MACs of a model file (:mod:`kasc.complexity.costs`), the DCASE 2023 limits
(:mod:`kasc.complexity.limits`) and the verdict against them (:mod:`kasc.complexity.verdict`),
and the report's SERFR-CNN table with its costs (:mod:`kasc.complexity.layer_table`)."""
