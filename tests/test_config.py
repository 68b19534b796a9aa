from pathlib import Path

import pytest

from kasc.config import ConfigError, ExperimentConfig, load_config, parse_override


def test_named_config_loads_report_front_end():
    cfg = load_config("default")
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.name == "default"
    assert (cfg.data.sample_rate, cfg.features.n_fft, cfg.features.hop_samples, cfg.features.n_mels) == (16000, 2048, 512, 256)
    assert cfg.data.clip_samples == 16000


def test_overrides_are_parsed_as_yaml_and_applied_last():
    cfg = load_config("default", ["train.epochs=3", "augment.mixup_prob=0.5", "data.subset_csv=x.csv"])
    assert cfg.train.epochs == 3 and cfg.augment.mixup_prob == 0.5
    assert cfg.data.subset_csv == str(Path.cwd() / "x.csv")  # a relative path in --set: from the current directory


def test_int_accepted_for_float_but_not_the_reverse():
    assert load_config("default", ["augment.mixup_prob=1"]).augment.mixup_prob == 1.0
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config("default", ["train.epochs=2.5"])


def test_an_integer_is_accepted_for_a_string_setting():
    assert load_config("us8k_plain_student", ["data.train_split=2"]).data.train_split == "2"


def test_teacher_run_names_show_the_settings_that_change_the_teacher():
    from kasc.config import changed_settings, teacher_run_name

    settings = {"data.train_split": 2, "data.valid_split": "1", "train.batch_size": 32}
    base, changed = load_config("us8k_teacher_cnn"), load_config("us8k_teacher_cnn", settings=settings)
    assert changed.data.train_split == "2" and changed.train.batch_size == 32
    assert changed_settings(base, changed, settings) == {"data.train_split": 2, "data.valid_split": "1"}
    assert teacher_run_name("t", changed_settings(base, changed, settings)) == "t--train_split2--valid_split1"
    assert teacher_run_name("t", {}) == "t"
    assert teacher_run_name("t", {"data.root": "a/b c"}) == "t--roota_b_c"


def test_mixed_precision_auto_follows_the_cpu(monkeypatch):
    from kasc.training import runtime

    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert runtime.resolve_mixed_precision("auto") == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2"})
    assert runtime.resolve_mixed_precision("auto") == "none"
    assert runtime.resolve_mixed_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert load_config("default", ["train.mixed_precision=auto"]).train.mixed_precision == "auto"


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError, match="unknown key 'train.epoch'"):
        load_config("default", ["train.epoch=3"])


def test_wrong_type_names_the_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("extends: default\ndata:\n  sample_rate: fast\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'data.sample_rate' must be an integer"):
        load_config(path)


def test_profile_applies_and_extends_inherits(tmp_path):
    path = tmp_path / "child.yaml"
    path.write_text("extends: default\ntrain:\n  seed: 7\n")
    cfg = load_config(path, profile="fast")
    assert cfg.train.seed == 7 and cfg.train.epochs == 6  # profile from the parent
    full = load_config(path)  # the full profile is the report's
    assert (full.train.epochs, full.train.warmup_epochs, full.train.decay_end_epoch) == (800, 300, 800)
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        load_config(path, profile="nope")


def test_unknown_config_name_lists_known_ones():
    with pytest.raises(ConfigError, match="no config named 'nosuch'.*default"):
        load_config("nosuch")


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("train.epochs")


def test_extends_several_parents_later_wins(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("extends: [teacher_cnn, us8k]\ntrain:\n  epochs: 5\n")
    cfg = load_config(path)
    assert cfg.model.architecture == "cnn_teacher"  # from the first parent
    assert cfg.data.format == "csv" and cfg.data.clip_seconds == 4.0  # the second parent wins over the first
    assert cfg.train.batch_size == 32 and not cfg.train.export  # us8k sets only data and features
    assert cfg.train.epochs == 5 and not cfg.data.rebuild_10s


def test_a_childs_profile_adds_to_its_parents_profile_of_the_same_name(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("extends: plain_student\nprofiles:\n  fast:\n    train.init_from: somewhere\n")
    cfg = load_config(child, profile="fast")
    parent = load_config("plain_student", profile="fast")
    assert cfg.train.init_from == "somewhere"
    assert (cfg.train.epochs, cfg.data.max_clips_per_split) == (parent.train.epochs, parent.data.max_clips_per_split)
    assert load_config(child).train.epochs == load_config("plain_student").train.epochs  # full profile untouched


def test_scientific_notation_is_a_number_in_files_and_overrides(tmp_path):
    assert load_config("default", ["train.learning_rate=1e-4"]).train.learning_rate == 1e-4
    path = tmp_path / "sci.yaml"
    path.write_text("extends: default\ntrain:\n  learning_rate: 5e-4\n  final_learning_rate: 1e-6\n")
    cfg = load_config(path)
    assert (cfg.train.learning_rate, cfg.train.final_learning_rate) == (5e-4, 1e-6)


def test_a_key_given_twice_is_an_error_naming_it_and_its_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("extends: default\ntrain:\n  epochs: 5\n  batch_size: 8\n  epochs: 7\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: not valid YAML: key 'epochs' is given twice.*line 3"):
        load_config(path)


@pytest.mark.parametrize("setting", ["features.normalize_std=.nan", "train.learning_rate=.nan",
                                     "data.clip_seconds=.inf", "augment.mixup_alpha=-.inf",
                                     "distill.teacher_weights=[1, .nan]"])
def test_non_finite_float_settings_are_refused_by_name(setting):
    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{key} must be a finite number"):
        load_config("us8k_kd_mixed_student", [setting])


def test_relative_paths_come_from_the_file_the_set_or_the_clone(tmp_path, monkeypatch):
    from kasc.config import CONFIG_DIR

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "own.yaml").write_text("extends: plain_student\ndata: {format: csv, manifest: labels.csv}\n")
    assert load_config(folder / "own.yaml").data.manifest == str(folder / "labels.csv")  # the file's folder
    monkeypatch.chdir(tmp_path)
    cfg = load_config("plain_student", ["data.manifest=sub/labels.csv", "data.format=csv"])
    assert cfg.data.manifest == str(tmp_path / "sub" / "labels.csv")  # --set: the current directory
    assert load_config("us8k").data.root == "../shared/data/us8k-dev"  # kasc's configs: the clone
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((CONFIG_DIR / "us8k" / "us8k.yaml").read_text())
    (run / "metrics.json").write_text("{}")
    assert load_config(run / "config.yaml").data.root == "../shared/data/us8k-dev"  # a run folder's: the clone


@pytest.mark.slow
def test_own_data_trains_from_the_data_folder_in_one_command(tmp_path, monkeypatch, capsys):
    import json

    import numpy as np
    import soundfile as sf

    from kasc.train import main as train_main

    rows = ["filename,label,split"]
    for i in range(10):
        label = ("park", "tram")[i % 2]
        (tmp_path / label).mkdir(exist_ok=True)
        sf.write(tmp_path / label / f"{i}.wav", np.random.default_rng(i).normal(0, 0.05 + 0.2 * (i % 2), 22050), 22050)
        rows.append(f"{label}/{i}.wav,{label},{'train' if i < 6 else 'valid'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    command = ["own_data", "--profile", "fast", "--set", "data.manifest=labels.csv",
               "--set", f"data.cache_dir={tmp_path / 'cache'}", "--verbose", "0"]
    assert train_main(command) == 0
    run = tmp_path / "saved_models" / "own_data-fast"
    stored = load_config(run / "config.yaml")
    assert stored.features.normalize_mean != -6.8 and stored.features.normalize_std > 0  # measured, not TAU's
    out = capsys.readouterr().out
    assert "log-mel normalisation measured on the training clips" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["clips"] == 4
    # own_data distils: its two teachers trained on the student's data, in the student's folder,
    # checked against the floor before teaching, and metrics.json says what the student was given
    teachers = sorted(p.name for p in (run / "teachers").iterdir())
    assert teachers == ["own_data_teacher_cnn-fast", "own_data_teacher_mn04-fast"]
    cnn = load_config(run / "teachers" / "own_data_teacher_cnn-fast" / "config.yaml")
    assert cnn.data.manifest == stored.data.manifest and cnn.data.sample_rate == 16000
    assert cnn.features.normalize_mean != -6.8  # measured for the teacher too
    mn04 = load_config(run / "teachers" / "own_data_teacher_mn04-fast" / "config.yaml")
    assert mn04.data.manifest == stored.data.manifest and mn04.data.sample_rate == 32000
    record = metrics["distillation"]
    assert set(record["teachers"]) == set(teachers) and 0 <= record["floor"]["accuracy"] <= 1
    assert set(record["kept"]) | set(record["dropped"]) == set(teachers)
    assert record["given"] in out
    # the same run again: reused, its constants read from config.yaml, no clip decoded and measured again
    import kasc.data.normalization

    def measured_again(*args, **kwargs):
        raise AssertionError("the log-mel normalisation was measured again for a finished run")

    monkeypatch.setattr(kasc.data.normalization, "measure_normalization", measured_again)
    assert train_main(command) == 0 and "already finished" in capsys.readouterr().out


def test_one_seed_drives_augmentation_unless_set_apart(tmp_path):
    assert load_config("plain_student", ["train.seed=3"]).augment.seed == 3
    assert load_config("plain_student", ["train.seed=3", "augment.seed=7"]).augment.seed == 7
    path = tmp_path / "apart.yaml"
    path.write_text("extends: plain_student\naugment: {seed: 0}\ntrain: {seed: 5}\n")
    cfg = load_config(path)
    assert (cfg.train.seed, cfg.augment.seed) == (5, 0)


def test_a_teacher_entry_may_carry_its_own_settings():
    from kasc.config import parse_teacher

    assert parse_teacher("us8k_teacher_mn04_probe train.seed=1 train.batch_size=16") == (
        "us8k_teacher_mn04_probe", {"train.seed": 1, "train.batch_size": 16})
    assert parse_teacher("teacher_cnn") == ("teacher_cnn", {})
    cfg = load_config("us8k_kd_mixed_student")
    assert cfg.distill.teachers[1] == "us8k_teacher_mn04_probe train.seed=1"
    with pytest.raises(ConfigError, match="unknown teacher"):
        load_config("us8k_kd_mixed_student", ["distill.teachers=['us8k_teacher_nope train.seed=1']"])
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config("us8k_kd_mixed_student", ["distill.teachers=['us8k_teacher_cnn seed']"])


def test_a_finished_runs_config_loads_after_its_teacher_config_is_gone(tmp_path):
    """A run's config.yaml is a record: predict, evaluate and export read it even when a
    teacher config it names was renamed or deleted since (only training needs teachers)."""
    import yaml

    tree = load_config("us8k_kd_mixed_student").to_dict()
    tree["distill"]["teachers"] = ["us8k_teacher_deleted_since", "us8k_teacher_cnn"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match="unknown teacher"):  # not yet a run folder: a config to train
        load_config(run / "config.yaml")
    (run / "metrics.json").write_text("{}")
    assert load_config(run / "config.yaml").distill.teachers[0] == "us8k_teacher_deleted_since"


def test_a_config_is_named_by_its_stem_or_its_path_and_an_ambiguous_stem_is_refused(tmp_path, monkeypatch):
    from kasc.config import syntax

    assert load_config("report/submission3").name == load_config("submission3").name == "submission3"
    with pytest.raises(ConfigError, match="no config 'report/nope'"):
        load_config("report/nope")
    rooms = tmp_path / "configs"
    for room in ("a", "b"):
        (rooms / room).mkdir(parents=True)
        (rooms / room / "twin.yaml").write_text("description: one of two\n")
    monkeypatch.setattr(syntax, "CONFIG_DIR", rooms)
    with pytest.raises(ConfigError, match="config name 'twin' is ambiguous: a/twin, b/twin; give the path"):
        syntax.config_path("twin")
    assert syntax.config_path("b/twin") == rooms / "b" / "twin.yaml"


def test_front_end_caches_are_keyed_on_what_the_front_end_computes(tmp_path):
    """A setting about how normalisation is found (or one added later that changes nothing
    computed) must not invalidate the log-mel and soft-target caches (it once cost a
    recomputed view bank)."""
    import dataclasses

    import numpy as np

    from kasc.config import FeatureConfig
    from kasc.data.features import LogMel
    from kasc.data.logmel_cache import logmel_cache_key

    plain, measured = FeatureConfig(), FeatureConfig(measure_normalization=True)
    assert plain.computation() == measured.computation() and "measure_normalization" not in plain.computation()
    assert set(plain.computation()) | FeatureConfig.NOT_COMPUTATION == {f.name for f in dataclasses.fields(FeatureConfig)}
    np.save(tmp_path / "clips.npy", np.zeros((2, 16000), np.int16))
    keys = {logmel_cache_key(tmp_path / "clips.npy", LogMel(c, 16000)) for c in (plain, measured)}
    assert len(keys) == 1
    assert logmel_cache_key(tmp_path / "clips.npy", LogMel(FeatureConfig(n_mels=128), 16000)) not in keys


def test_a_users_config_names_extends_and_teachers_from_its_own_folder(tmp_path):
    mine = tmp_path / "mine"
    (mine / "teachers").mkdir(parents=True)
    (mine / "base.yaml").write_text("extends: plain_student\ntrain: {epochs: 7}\n")
    (mine / "teachers" / "wide.yaml").write_text("extends: teacher_cnn\nmodel: {params: {width: 16}}\n")
    (mine / "child.yaml").write_text("extends: [base]\ndistill:\n  teachers: [teachers/wide.yaml, "
                                     "'teachers/wide train.seed=1', teacher_bcresnet]\n")
    cfg = load_config(mine / "child.yaml")
    assert cfg.train.epochs == 7  # base.yaml beside it, not a kasc config
    wide = str((mine / "teachers" / "wide.yaml").resolve())
    assert cfg.distill.teachers == (wide, f"{wide} train.seed=1", "teacher_bcresnet")  # kasc's name kept
    assert load_config(cfg.distill.teachers[0]).model.params == {"width": 16}
    (mine / "loop_a.yaml").write_text("extends: loop_b\n")
    (mine / "loop_b.yaml").write_text("extends: ./loop_a.yaml\n")
    with pytest.raises(ConfigError, match="'extends' cycle"):
        load_config(mine / "loop_a.yaml")


@pytest.mark.slow
def test_a_refused_run_leaves_no_folder_and_claims_nothing_written(tmp_path, monkeypatch, capsys):
    import numpy as np
    import soundfile as sf

    from kasc.train import main as train_main

    rows = ["filename,label,split"]
    for i in range(6):
        label = ("park", "tram")[i % 2]
        sf.write(tmp_path / f"{i}.wav", np.random.default_rng(i).normal(0, 0.1, 16000), 16000)
        rows.append(f"{i}.wav,{label},{'train' if i < 4 else 'valid'}")
    rows.append("0.wav,park,valid")  # a training clip also in the validation split
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    assert train_main(["own_data_plain", "--profile", "fast", "--set", "data.manifest=labels.csv",
                       "--set", f"data.cache_dir={tmp_path / 'cache'}", "--verbose", "0"]) == 2
    captured = capsys.readouterr()
    assert "0.wav" in captured.err and captured.err.startswith("error: ")
    assert "written to" not in captured.out  # nothing was written: no claim that it was
    assert not (tmp_path / "saved_models" / "own_data_plain-fast").exists()
