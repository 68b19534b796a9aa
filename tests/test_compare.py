"""``python -m kasc.compare``: a markdown table from run folders."""

import json

import pytest

from kasc.compare import main as compare_main


def test_table_from_run_folders(tmp_path, capsys):
    student, teacher = tmp_path / "student", tmp_path / "teacher"
    student.mkdir()
    teacher.mkdir()
    (student / "metrics.json").write_text(json.dumps({
        "accuracy": 0.5, "macro_class_accuracy": 0.45, "log_loss": 1.5, "int8": {"accuracy": 0.48},
        "epochs": 40, "train_seconds": 600}))
    (teacher / "metrics.json").write_text(json.dumps({"accuracy": 0.6, "macro_class_accuracy": 0.55,
                                                      "log_loss": 1.2, "epochs": 16, "train_seconds": 1800}))
    (student / "teachers.json").write_text(json.dumps({"ensemble": {"accuracy": 0.7, "macro_class_accuracy": 0.65,
                                                                    "log_loss": 1.0}}))
    assert compare_main([str(student), str(teacher), "--teachers", str(student)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | accuracy | class-macro accuracy | log loss | int8 accuracy")
    assert lines[2] == "| student | 0.500 | 0.450 | 1.500 | 0.480 | 40 | 10 min |"
    assert lines[3] == "| teacher | 0.600 | 0.550 | 1.200 | - | 16 | 30 min |"
    assert lines[4].startswith("| ensemble of the teachers of student | 0.700 | 0.650 | 1.000 |")
    assert compare_main([str(tmp_path / "missing")]) == 2


def test_seed_repeats_become_one_row_with_mean_and_spread(tmp_path, capsys):
    for name, accuracy in (("plain", 0.50), ("plain_seed1", 0.54), ("plain_seed2", 0.52), ("other", 0.4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({
            "accuracy": accuracy, "macro_class_accuracy": accuracy, "log_loss": 1.0 + accuracy,
            "int8": {"accuracy": accuracy - 0.01}, "epochs": 40, "train_seconds": 300}))
    runs = [str(tmp_path / n) for n in ("plain", "other", "plain_seed1", "plain_seed2")]
    assert compare_main(runs) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == ("| plain (3 seeds) | 0.520 ± 0.020 | 0.520 ± 0.020 | 1.520 ± 0.020 | 0.510 ± 0.020 | 40 "
                        "| 5 min each |")
    assert lines[3].startswith("| other | 0.400 |") and len(lines) == 4


def _finished_run(folder, accuracy, log_loss, seed):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({
        "accuracy": accuracy, "macro_class_accuracy": accuracy, "log_loss": log_loss, "epochs": 40,
        "train_seconds": 300}))
    (folder / "config.yaml").write_text(f"train:\n  seed: {seed}\n")


def test_paired_with_gives_per_seed_gains_and_a_paired_t_test(tmp_path, capsys):
    for seed, (plain, distilled) in enumerate(((0.40, 0.45), (0.50, 0.56), (0.45, 0.49))):
        suffix = f"_seed{seed}" if seed else ""
        _finished_run(tmp_path / f"plain{suffix}", plain, 1.5, seed)
        _finished_run(tmp_path / f"kd{suffix}", distilled, 1.4, seed)
    # the base folder of this group was trained with seed 2: pairing follows config.yaml, not names
    _finished_run(tmp_path / "other", 0.30, 1.6, 2)
    runs = sorted(str(p) for p in tmp_path.iterdir())
    assert compare_main(runs + ["--paired-with", "plain"]) == 0
    out = capsys.readouterr().out
    paired = out.split("\n\n")[1].splitlines()
    assert paired[0].startswith("| run | paired with | seeds | accuracy gain | per seed |")
    kd = next(line for line in paired if line.startswith("| kd |"))
    # gains 0.05, 0.06, 0.04: mean 0.05, sd 0.01; t = 0.05 / (0.01 / sqrt 3) = 8.66, p = 0.013
    assert kd == ("| kd | plain | 3 | +0.050 ± 0.010 | 0: +0.050, 1: +0.060, 2: +0.040 | 3/3 | 0.01 "
                  "| -0.100 ± 0.000 |")
    other = next(line for line in paired if line.startswith("| other |"))
    assert "| 1 | -0.150 | 2: -0.150 | 0/1 | - |" in other


def test_paired_with_an_unknown_row_or_a_run_without_seed_is_an_error(tmp_path, capsys):
    _finished_run(tmp_path / "plain", 0.4, 1.5, 0)
    assert compare_main([str(tmp_path / "plain"), "--paired-with", "nothing"]) == 2
    assert "--paired-with nothing: not among the runs given (plain)" in capsys.readouterr().err
    (tmp_path / "kd").mkdir()
    (tmp_path / "kd" / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "log_loss": 1.4}))
    assert compare_main([str(tmp_path / "plain"), str(tmp_path / "kd"), "--paired-with", "plain"]) == 2
    assert "kd/config.yaml: no readable train.seed" in capsys.readouterr().err


def _cv_run(folder, name, train, valid, seed, accuracy, log_loss, predicted=None, teachers=None, agreement=None):
    """A finished cross-validation run: config.yaml, metrics.json, and optionally its validation
    predictions (``predicted``: file -> class) and its teachers' (ensemble and predictions)."""
    folder.mkdir()
    (folder / "config.yaml").write_text(
        f"name: {name}\ndata:\n  train_split: '{train}'\n  valid_split: '{valid}'\ntrain:\n  seed: {seed}\n")
    metrics = {"accuracy": accuracy, "log_loss": log_loss, "finished": True}
    if agreement is not None:
        metrics["teacher_agreement"] = agreement
    (folder / "metrics.json").write_text(json.dumps(metrics))

    def write(path, labels):
        lines = ["filename\tscene_label\ta\tb"] + [f"{f}\t{c}\t0.5\t0.5" for f, c in labels.items()]
        path.write_text("\n".join(lines) + "\n")

    if predicted:
        write(folder / "predictions_valid.csv", predicted)
    if teachers:
        ensemble, labels = teachers
        (folder / "teachers.json").write_text(json.dumps({"ensemble": ensemble}))
        write(folder / "teachers_valid.csv", labels)


def test_cv_table_shows_both_directions_their_mean_and_agreement(tmp_path, capsys):
    teacher_labels = {"x.wav": "a", "y.wav": "b", "z.wav": "a", "w.wav": "b"}
    for d, (train, valid) in enumerate(((1, 2), (2, 1))):
        ensemble = {"accuracy": 0.8 - 0.1 * d, "log_loss": 0.7 + 0.1 * d}
        for seed in (0, 1):
            _cv_run(tmp_path / f"kd-{d}-{seed}", "kd", train, valid, seed, 0.6 + 0.04 * seed - 0.1 * d, 1.2,
                    teachers=(ensemble, teacher_labels), agreement=0.75)
            # the plain student names the teachers' class on 2 of 4 files
            _cv_run(tmp_path / f"plain-{d}-{seed}", "plain", train, valid, seed, 0.5 - 0.1 * d + 0.02 * seed, 1.5,
                    predicted={"x.wav": "a", "y.wav": "a", "z.wav": "b", "w.wav": "b"})
    runs = sorted(str(p) for p in tmp_path.iterdir())
    assert compare_main(["--cv", *runs, "--paired-with", "plain"]) == 0
    tables = capsys.readouterr().out.split("\n\n")
    lines = tables[0].splitlines()
    assert lines[0] == ("| run | fold 1→2: accuracy | fold 1→2: log loss | fold 1→2: agreement | fold 2→1: accuracy "
                        "| fold 2→1: log loss | fold 2→1: agreement | mean accuracy | mean log loss |")
    assert lines[2].startswith("| teacher ensemble (per direction) | 0.800 | 0.700 | 1 | 0.700 | 0.800 | 1 | "
                               "0.750 ± 0.071 |")
    assert lines[3] == ("| kd (2 seeds) | 0.620 ± 0.028 | 1.200 ± 0.000 | 0.750 ± 0.000 | 0.520 ± 0.028 "
                        "| 1.200 ± 0.000 | 0.750 ± 0.000 | 0.570 | 1.200 |")
    assert lines[4] == ("| plain (2 seeds) | 0.510 ± 0.014 | 1.500 ± 0.000 | 0.500 ± 0.000 | 0.410 ± 0.014 "
                        "| 1.500 ± 0.000 | 0.500 ± 0.000 | 0.460 | 1.500 |")
    paired = tables[1].splitlines()
    assert paired[2].startswith("| fold 1→2: kd | plain | 2 | +0.110 ± 0.014 | 0: +0.100, 1: +0.120 | 2/2 |")
    assert paired[3].startswith("| fold 2→1: kd | plain | 2 | +0.110 ± 0.014 |")
    assert compare_main(["--cv", *runs, "--paired-with", "nothing"]) == 2
    # a run under way (config.yaml, no metrics.json yet) is left out and named
    (tmp_path / "kd-0-2").mkdir()
    (tmp_path / "kd-0-2" / "config.yaml").write_text((tmp_path / "kd-0-0" / "config.yaml").read_text())
    capsys.readouterr()
    assert compare_main(["--cv", *runs, str(tmp_path / "kd-0-2")]) == 0
    out = capsys.readouterr().out
    assert "| kd (2 seeds) |" in out and out.rstrip().endswith(f"left out, not finished: {tmp_path / 'kd-0-2'}")
    assert compare_main(["--cv", str(tmp_path / "kd-0-2")]) == 2


def test_quote_into_writes_the_cross_validation_into_a_final_runs_metrics(tmp_path, capsys):
    runs = []
    for d, (train, valid) in enumerate(((1, 2), (2, 1))):
        for seed in (0, 1):
            runs.append(tmp_path / f"kd-{d}-{seed}")
            _cv_run(runs[-1], "kd", train, valid, seed, 0.6 + 0.04 * seed - 0.1 * d, 1.2 + 0.1 * d)
    final = tmp_path / "final"
    _cv_run(final, "kd", "1+2", "1+2", 0, 0.97, 0.1)
    (final / "metrics.json").write_text(json.dumps({"accuracy": 0.97, "held_out": False, "finished": True}))
    assert compare_main(["--cv", *map(str, runs), "--quote-into", str(final)]) == 0
    assert "written into" in capsys.readouterr().out
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["accuracy"] == 0.97 and metrics["finished"]  # the run's own fields stay
    quoted = metrics["cross_validation"]
    assert "not scores of this model" in quoted["note"]
    assert quoted["rows"]["kd"]["fold 1→2"] == {"seeds": [0, 1], "accuracy": [0.6, 0.64], "log_loss": [1.2, 1.2],
                                                "agreement": [None, None]}
    assert quoted["rows"]["kd"]["mean_accuracy"] == pytest.approx(0.57)
    assert quoted["rows"]["kd"]["mean_log_loss"] == pytest.approx(1.25)
    assert quoted["runs"] == [str(r) for r in runs] and quoted["tables"].startswith("| run |")
    # a run scored on its own training clips is no part of a cross-validation; --quote-into needs --cv
    assert compare_main(["--cv", str(final), *map(str, runs)]) == 2
    assert "held_out false" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare_main([str(final), "--quote-into", str(final)])


def test_a_run_scored_on_its_training_clips_is_marked(tmp_path, capsys):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "metrics.json").write_text(json.dumps({"accuracy": 0.97, "held_out": False}))
    (tmp_path / "final" / "teachers.json").write_text(json.dumps({"ensemble": {
        "accuracy": 0.99, "macro_class_accuracy": 0.99, "log_loss": 0.1, "held_out": False}}))
    assert compare_main([str(tmp_path / "final"), "--teachers", str(tmp_path / "final")]) == 0
    out = capsys.readouterr().out
    assert "| final (not held out: scored on training clips) | 0.970 |" in out
    assert "| ensemble of the teachers of final (not held out: scored on training clips) | 0.990 |" in out
