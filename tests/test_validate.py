"""Every kind of bad setting fails when the config is loaded, naming the file, the key,
the value and what is allowed; ``python -m kasc.train`` fails before any work."""

import subprocess
import sys
import time

import pytest

from kasc.config import ConfigError, load_config
from tests.conftest import REPO

BAD_SETTINGS = [  # (override, words the error must contain)
    ("distill.teacher_input=bogus", ["distill.teacher_input", "bogus", "clip, recording"]),
    ("distill.soft_targets=sometimes", ["distill.soft_targets", "cached, online"]),
    ("data.format=wav", ["data.format", "tau22, tau20, csv"]),
    ("features.mel_scale=bark", ["features.mel_scale", "report, htk"]),
    ("model.architecture=resnet9000", ["model.architecture", "serfr_cnn"]),
    ("augment.mixup_prob=1.5", ["augment.mixup_prob", "[0, 1]"]),
    ("augment.mixstyle_prob=1.5", ["augment.mixstyle_prob", "[0, 1]"]),
    ("augment.mixstyle_alpha=0", ["augment.mixstyle_alpha"]),
    ("augment.stretch_prob=-0.1", ["augment.stretch_prob", "[0, 1]"]),
    ("augment.stretch_min_rate=2.0", ["stretch_min_rate", "0 < min <= max"]),
    ("augment.freq_masks=-1", ["augment.freq_masks", ">= 0"]),
    ("train.epochs=-1", ["train.epochs", ">= 1", "-1"]),
    ("train.epochs=0", ["train.epochs", ">= 1"]),
    ("train.batch_size=-4", ["train.batch_size", ">= 1"]),
    ("train.learning_rate=0", ["train.learning_rate", "> 0"]),
    ("data.clip_seconds=0", ["data.clip_seconds", "> 0"]),
    ("data.clip_seconds=0.1", ["data.clip_seconds", "one STFT window", "0.128"]),
    ("features.normalize_std=0", ["features.normalize_std", "> 0"]),
    ("features.fmax_hz=20000", ["fmax_hz", "8000"]),
    ("distill.temperature=0", ["distill.temperature", "> 0"]),
    ("distill.label_weight=2", ["distill.label_weight", "[0, 1]"]),
    ("distill.teachers=[no_such_teacher]", ["distill.teachers", "no_such_teacher"]),
    ("distill.teacher_weights=[1.0]", ["distill.teacher_weights", "one weight per teacher"]),
    ("train.decay_end_epoch=10", ["train.decay_end_epoch", ">= 300"]),
    ("data.recording_column=fsID", ["data.recording_column", "'csv'", "tau22"]),
    ("data.train_parts=1", ["data.train_parts", "at least 2"]),
    ("data.held_out_part=3", ["data.held_out_part", "1 to data.train_parts (0)"]),
    ("distill.cross_fit_parts=1", ["distill.cross_fit_parts", "at least 2"]),
    ("data.rebuild_10s=true", None),  # allowed on TAU22 (submission3 reads TAU22)
]


@pytest.mark.parametrize("override, words", BAD_SETTINGS, ids=[o for o, _ in BAD_SETTINGS])
def test_bad_setting_named_when_loading(override, words):
    if words is None:
        load_config("submission3", [override])
        return
    with pytest.raises(ConfigError) as err:
        load_config("submission3", [override])
    message = str(err.value)
    assert "configs/report/submission3.yaml" in message and "--set" in message  # the file and where the value came from
    for word in words:
        assert word in message, (word, message)


def test_cross_fitting_needs_cached_soft_targets():
    load_config("submission3", ["distill.cross_fit_parts=4"])
    with pytest.raises(ConfigError, match=r"distill.cross_fit_parts must be 0 unless distill.soft_targets is 'cached'.*'online'"):
        load_config("submission3", ["distill.cross_fit_parts=4", "distill.soft_targets=online"])


def test_teacher_input_recording_needs_tau22():
    with pytest.raises(ConfigError, match="distill.teacher_input.*'tau22'"):
        load_config("us8k_kd_student", ["distill.teacher_input=recording"])


def test_every_shipped_config_and_profile_is_valid():
    from kasc.config import CONFIG_DIR, known_configs
    from kasc.config.loader import _read_tree
    from kasc.config.syntax import STUDY_CONFIG_DIR

    shipped = sorted(CONFIG_DIR.rglob("*.yaml"))
    assert len(shipped) > 25 and {p.parent.name for p in shipped} == {"base", "report", "dcase24", "us8k", "own_data"}
    paths = shipped + sorted(STUDY_CONFIG_DIR.rglob("*.yaml"))  # and the studies'
    assert len(paths) > 60
    assert all(len(files) == 1 for files in known_configs().values())  # every name names one file
    for path in paths:
        load_config(path.stem)
        for profile in _read_tree(path)[1]:
            load_config(path.stem, profile=profile)


def test_product_configs_are_at_most_four_extends_deep():
    """A config a user runs reads in a few steps: the longest chain of `extends` under
    configs/ (a file, its parent, the parent's parent, ...) is at most 4 links."""
    import yaml

    from kasc.config import CONFIG_DIR
    from kasc.config.syntax import config_path

    def depth(path, seen=()):
        parents = (yaml.safe_load(path.read_text()) or {}).get("extends") or []
        parents = [parents] if isinstance(parents, str) else parents
        assert path not in seen
        return max((1 + depth(config_path(name), seen + (path,)) for name in parents), default=0)

    depths = {path.stem: depth(path) for path in CONFIG_DIR.rglob("*.yaml")}
    assert max(depths.values()) <= 4, sorted(depths.items(), key=lambda item: -item[1])[:5]
    assert max(depths.values()) >= 3  # the measure sees chains


def test_paths_checked_before_training(tmp_path):
    from kasc.data.preflight import check_paths

    cfg = load_config("submission3", [f"data.root={tmp_path / 'nowhere'}"])
    with pytest.raises(ConfigError, match="data.root.*existing dataset folder"):
        check_paths(cfg, "here")
    cfg = load_config("plain_student", [f"train.init_from={tmp_path / 'missing_run'}"])
    with pytest.raises(ConfigError, match="train.init_from.*missing_run"):
        check_paths(cfg, "here")


def test_each_dataset_format_carries_its_rules_for_loader_preflight_and_reader(tmp_path):
    """One rule, three doors: a config file (ConfigError at load), the disk check before training,
    and a DataConfig built in Python that never met the loader (DatasetError when read)."""
    import dataclasses

    from kasc.config.dataset_formats import FORMATS
    from kasc.data.datasets import READERS, load_split
    from kasc.data.table import DatasetError

    assert set(READERS) == set(FORMATS) == {"tau22", "tau20", "csv"}
    with pytest.raises(ConfigError, match="data.manifest must be a manifest file for data.format 'csv'"):
        load_config("submission3", ["data.format=csv"])
    with pytest.raises(ConfigError, match="data.rebuild_10s must be false unless.*it is 'tau20'"):
        load_config("submission3", ["data.format=tau20", "data.rebuild_10s=true"])
    data = load_config("submission3").data
    with pytest.raises(DatasetError, match="data.manifest must be a manifest file for data.format 'csv'"):
        load_split(dataclasses.replace(data, format="csv", manifest=""), "train")
    with pytest.raises(DatasetError, match=r"data.root must be an existing dataset folder \(.*nowhere is missing"):
        load_split(dataclasses.replace(data, root=str(tmp_path / "nowhere")), "train")
    with pytest.raises(ConfigError, match="data.format must be one of tau22, tau20, csv, got 'wav'"):
        load_split(dataclasses.replace(data, format="wav"), "train")
    from kasc.data.preflight import check_paths

    cfg = load_config("own_data_plain", [f"data.manifest={tmp_path / 'labels.csv'}"])
    with pytest.raises(ConfigError, match="data.manifest must be an existing file.*labels.csv is missing"):
        check_paths(cfg, "here")


@pytest.mark.slow
def test_train_command_fails_fast_and_writes_nothing(tmp_path):
    """The typo of the issue: a student-only setting must not wait for the teachers."""
    run_dir = tmp_path / "run"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kasc.train", "submission3", "--set", "distill.teacher_input=bogus",
                             "--run-dir", str(run_dir)], cwd=REPO, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    print(f"failed after {seconds:.1f} s")
    assert result.returncode == 2
    assert "distill.teacher_input must be one of clip, recording, got 'bogus'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()  # no config.yaml, no teacher folders: nothing decoded or trained
    # its time is printed, not asserted (a loaded CI machine is slow): about 3 s here, most
    # of it importing TensorFlow for the model names


def test_only_the_expected_retracing_warning_is_silenced(caplog):
    import logging

    import tensorflow as tf

    from kasc.training.runtime import quiet_expected_retracing

    quiet_expected_retracing()
    quiet_expected_retracing()  # idempotent
    logger = tf.get_logger()
    assert sum(type(f).__name__ == "_DropExpectedRetracing" for f in logger.filters) == 1
    record = logging.LogRecord("tensorflow", logging.WARNING, __file__, 1,
                               "5 out of the last 5 calls to <f> triggered tf.function retracing.", None, None)
    other = logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, "something else", None, None)
    assert not logger.filter(record) and logger.filter(other)


def test_rules_that_used_to_wait_for_the_teachers_are_checked_at_load():
    from kasc.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"model.params must be arguments of the 'serfr_cnn' builder.*unknown: depth"):
        load_config("plain_student", ["model.params={width: 32, depth: 3}"])
    with pytest.raises(ConfigError, match="'online' needs teachers on the student's front end"):
        load_config("us8k_kd_mixed_student", ["distill.soft_targets=online"])  # mn04 hears 32 kHz
    assert load_config("submission3", ["distill.soft_targets=online"]).distill.soft_targets == "online"


def test_the_config_command_prints_the_chain_and_the_resolved_config(capsys):
    import yaml

    from kasc.config.show import main

    assert main(["us8k_consistent_kd_student", "--set", "train.seed=2"]) == 0
    out = capsys.readouterr().out
    chain = [line.split()[-1] for line in out.splitlines() if line.startswith("#   ")]
    assert [p.rsplit("/", 1)[-1] for p in chain] == ["default.yaml", "student.yaml", "plain_student.yaml", "us8k.yaml",
                                                     "us8k_plain_student.yaml", "us8k_consistent_plain_student.yaml",
                                                     "us8k_consistent_kd_student.yaml"]
    resolved = yaml.safe_load(out)
    assert resolved["train"]["seed"] == 2 and resolved["augment"]["views"] == 64 and resolved["distill"]["label_weight"] == 0.02
    assert main(["nope"]) == 2 and "no config named 'nope'" in capsys.readouterr().err


def test_the_config_command_reads_files_as_training_does_one_line_per_problem(tmp_path, capsys):
    from kasc.config.show import main

    (tmp_path / "dup.yaml").write_text("extends: plain_student\ntrain: {epochs: 3}\ntrain: {epochs: 4}\n")
    (tmp_path / "merge.yaml").write_text("base: &b {epochs: 3}\ntrain:\n  <<: *b\n")
    (tmp_path / "cycle_a.yaml").write_text("extends: ./cycle_b.yaml\n")
    (tmp_path / "cycle_b.yaml").write_text("extends: cycle_a\n")
    for name, message in (("dup", "key 'train' is given twice"), ("merge", "(line 3, column 3)"),
                          ("cycle_a", "'extends' cycle")):
        assert main([str(tmp_path / f"{name}.yaml")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert main(["plain_student", "--set", "train.epochs=[1"]) == 2
    err = capsys.readouterr().err
    assert "value is not valid YAML" in err and err.count("\n") == 1


def test_anchor_bombs_are_refused_and_long_values_cut_in_messages(tmp_path):
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefg", "bcdefgh"):
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(levels) + "\nextends: plain_student\ndescription: *h\n")
    with pytest.raises(ConfigError, match=r"anchors and aliases expand to 102,908,577 values \(at most 100,000\)"):
        load_config(tmp_path / "bomb.yaml")
    (tmp_path / "long.yaml").write_text(f"extends: plain_student\ndescription: [{', '.join(map(str, range(5000)))}]\n")
    with pytest.raises(ConfigError, match=r"must be a string, got \[0, 1, 2.*\.\.\. \(\d[\d,]+ characters\)") as err:
        load_config(tmp_path / "long.yaml")
    assert len(str(err.value)) < 500
    (tmp_path / "fine.yaml").write_text("extends: plain_student\naugment: {freq_masks: &n 1, time_masks: *n}\n")
    assert load_config(tmp_path / "fine.yaml").augment.time_masks == 1  # an ordinary anchor still works
