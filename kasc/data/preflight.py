"""What a config names on disk, checked by ``python -m kasc.train`` before anything else:
the dataset folder, manifest and split file, the impulse-response folder and
``train.init_from``; each problem one :class:`kasc.config.ConfigError` line, as the rule
book (:mod:`kasc.config.validate`) gives them."""

from __future__ import annotations

from kasc.config import ExperimentConfig, resolve_path
from kasc.config.dataset_formats import dataset_format
from kasc.config.validate import Checker
from kasc.data.impulse_responses import response_files
from kasc.data.table import DatasetError
from kasc.config.run_layout import model_file_of


def check_paths(cfg: ExperimentConfig, source: str) -> None:
    """What the config names on disk: the dataset folder, manifest and split file,
    ``train.init_from``."""
    check = Checker(source)
    data = cfg.data
    dataset_format(data.format).check_on_disk(data, check.fail)
    if cfg.augment.dir_prob > 0:
        try:
            response_files(resolve_path(cfg.augment.dir_folder), cfg.augment.dir_subset)
        except DatasetError as err:
            check.fail("augment.dir_folder", cfg.augment.dir_folder, f"a folder of .wav impulse responses ({err})")
    if data.subset_csv and not resolve_path(data.subset_csv).is_file():
        check.fail("data.subset_csv", data.subset_csv, f"an existing split file ({resolve_path(data.subset_csv)})")
    if cfg.train.init_from:
        model = model_file_of(resolve_path(cfg.train.init_from))
        if not model.is_file():
            check.fail("train.init_from", cfg.train.init_from,
                       f"a run folder, .keras file or EfficientAT .npz ({model} is missing)")
