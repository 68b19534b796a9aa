"""Experiment configuration: YAML files (kasc's own in ``configs/``) loaded into frozen dataclasses.

- :mod:`kasc.config.schema`: the dataclasses (every field documented), the allowed values
  and the typed conversion of a YAML tree;
- :mod:`kasc.config.syntax`: YAML, ``--set`` overrides, teacher entries, config names and
  the paths settings name;
- :mod:`kasc.config.loader`: ``extends``, ``profiles`` and :func:`load_config`;
- :mod:`kasc.config.validate`: every rule a resolved config must satisfy;
- :mod:`kasc.config.show`: ``python -m kasc.config NAME`` prints the resolved config.

Each module imports only the ones above it in this list; everything public is importable
from ``kasc.config`` itself.
"""

from kasc.config.schema import (ARCHITECTURES, CONFIG_DIR, DATA_FORMATS, DIR_SUBSETS, MEL_SCALES, MIXED_PRECISION,
                                SOFT_TARGET_MODES, STRATEGIES, TEACHER_INPUTS, WINDOWS, AugmentConfig,
                                ConfigError, DataConfig, DistillConfig, ExperimentConfig, FeatureConfig, ModelConfig,
                                TrainConfig, from_dict, project_root)
from kasc.config.syntax import (PATH_SETTINGS, ConfigLoader, config_path, known_configs, load_yaml, parse_override,
                                parse_teacher, resolve_path, teacher_run_name)
from kasc.config.loader import changed_settings, load_config

__all__ = [
    "ARCHITECTURES", "CONFIG_DIR", "DATA_FORMATS", "DIR_SUBSETS", "MEL_SCALES", "MIXED_PRECISION",
    "SOFT_TARGET_MODES", "STRATEGIES", "TEACHER_INPUTS", "WINDOWS", "AugmentConfig", "ConfigError", "DataConfig",
    "DistillConfig", "ExperimentConfig", "FeatureConfig", "ModelConfig", "TrainConfig", "from_dict", "project_root", "PATH_SETTINGS",
    "ConfigLoader", "config_path", "known_configs", "load_yaml", "parse_override", "parse_teacher", "resolve_path", "teacher_run_name",
    "changed_settings", "load_config",
]
