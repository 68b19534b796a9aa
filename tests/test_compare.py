"""``python -m kasc.compare``: a markdown table from run folders."""

import json

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
