"""Evaluation metrics against scikit-learn, the per-device split, the DCASE output CSV,
and ``python -m kasc.evaluate`` on a run folder."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss

from kasc.evaluate import main as evaluate_main
from kasc.evaluation.run_evaluation import format_reports
from kasc.evaluation.metrics import split_report
from kasc.evaluation.metrics import classification_metrics
from kasc.evaluation.output_csv import predictions_table, write_predictions

CLASSES = ["airport", "bus", "park"]


def _fixed(n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[labels] * rng.random((n, 1))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probs


def test_metrics_match_scikit_learn():
    labels, probs = _fixed()
    m = classification_metrics(labels, probs, CLASSES)
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, probs.argmax(1)))
    assert m["macro_class_accuracy"] == pytest.approx(balanced_accuracy_score(labels, probs.argmax(1)))
    assert m["log_loss"] == pytest.approx(log_loss(labels, probs))
    matrix = np.array(m["confusion_matrix"])
    assert matrix.sum() == 60 and np.trace(matrix) == round(m["accuracy"] * 60)
    for i, name in enumerate(CLASSES):
        assert m["per_class_accuracy"][name] == pytest.approx(np.mean(probs[labels == i].argmax(1) == i))


def test_a_class_without_clips_is_left_out_of_the_macro_average():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    m = classification_metrics(labels, probs, CLASSES)
    assert m["per_class_accuracy"]["park"] is None
    assert m["macro_class_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["log_loss"] == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2]))


def test_per_device_and_seen_unseen_groups():
    labels = np.array([0, 1, 2, 0, 1, 2])
    says = {c: [0.8 if i == c else 0.1 for i in range(3)] for c in range(3)}  # predicts class c
    probs = np.array([says[0], says[1], says[0], says[2], says[1], says[2]])  # clips 3 and 4 wrong
    table = pd.DataFrame({"device": ["a", "a", "s1", "s4", "s4", "s5"]})
    report = split_report(table, labels, probs, CLASSES)
    assert report["per_device"]["a"] == {"clips": 2, "accuracy": 1.0,
                                         "log_loss": pytest.approx(log_loss([0, 1], probs[:2], labels=[0, 1, 2]))}
    assert report["per_device"]["s1"]["accuracy"] == 0.0
    assert report["device_groups"]["seen"]["clips"] == 3
    assert report["device_groups"]["seen"]["accuracy"] == pytest.approx(2 / 3)
    assert report["device_groups"]["unseen"]["accuracy"] == pytest.approx(2 / 3)
    text = format_reports({"keras": report, "int8": report})
    assert "unseen devices: accuracy" in text and "device s4 (2 clips)" in text
    assert "device_groups" not in split_report(pd.DataFrame({"device": [""] * 6}), labels, probs, CLASSES)


def test_output_csv_format(tmp_path):
    names = ["park", "airport", "bus"]  # model order need not be sorted
    probs = np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2]])
    path = write_predictions(tmp_path / "out.csv", ["audio/1.wav", "audio/2.wav"], probs, names)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["filename", "scene_label", "airport", "bus", "park"]
    table = pd.read_csv(path, sep="\t")
    assert list(table["scene_label"]) == ["airport", "park"]
    assert table.loc[0, "airport"] == pytest.approx(0.5) and table.loc[1, "park"] == pytest.approx(0.7)
    np.testing.assert_allclose(table[["airport", "bus", "park"]].sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        predictions_table(["a", "b"], probs[:, :2], names)


def make_run(tmp_path, data_root, seed=0):
    """A run folder holding an untrained tiny student, its config and class names."""
    from kasc.config import load_config
    from kasc.models import build_model
    from kasc.files.atomic import write_json
    from kasc.files.runs import RunDir

    cfg = load_config("plain_student", [f"data.root={data_root}", f"data.cache_dir={tmp_path / 'cache'}",
                                        "model.params={width: 4, head_channels: 8}"])
    run = RunDir(tmp_path / "run")
    run.start(cfg)
    keras.utils.set_random_seed(seed)
    classes = sorted({line.split("\t")[1] for line in (data_root / "evaluation_setup" / "fold1_train.csv")
                      .read_text().splitlines()[1:]})
    run.save_model(build_model("serfr_cnn", (None, 256, 1), len(classes), width=4, head_channels=8))
    write_json(run.metrics_file, {"class_names": classes})
    return run


@pytest.mark.slow
def test_evaluate_command_on_a_run_folder(tmp_path, capsys):
    from tests.conftest import write_tau_dataset

    names = [(f"audio/{s}-x-{i}-{i}0-0-{d}.wav", s) for i, (s, d) in enumerate(
        [("bus", "a"), ("park", "a"), ("bus", "s4"), ("park", "b"), ("bus", "s5"), ("park", "s1")])]
    root = write_tau_dataset(tmp_path / "d", names, train=[n for n, _ in names[:2]], evaluate=[n for n, _ in names[2:]],
                             rate=16000)
    run = make_run(tmp_path, root)
    assert evaluate_main([str(run.path)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "class-macro accuracy" in out and "unseen devices" in out
    assert "Keras model" in captured.err and "batch" in captured.err  # a progress bar while it runs
    metrics = json.loads(run.metrics_file.read_text())
    assert metrics["clips"] == 4 and set(metrics["per_device"]) == {"b", "s1", "s4", "s5"}
    assert metrics["held_out"] is True
    assert run.path.joinpath("confusion.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(run.path / "predictions_valid.csv", sep="\t")
    assert list(table.columns) == ["filename", "scene_label", "bus", "park"] and len(table) == 4
    assert evaluate_main([str(tmp_path / "nothing")]) == 2
    # evaluated again on a validation split that holds the training clips: not held out
    with open(root / "evaluation_setup" / "fold1_evaluate.csv", "a") as fh:
        fh.write("".join(f"{name}\t{label}\n" for name, label in names[:2]))
    config = run.config_file.read_text().replace("allow_overlap: false", "allow_overlap: true")
    run.config_file.write_text(config)
    assert evaluate_main([str(run.path)]) == 0
    metrics = json.loads(run.metrics_file.read_text())
    assert metrics["clips"] == 6 and metrics["held_out"] is False and metrics["validation_clips_trained_on"] == 2


def test_table_columns_stay_distinct_when_names_are_cut():
    from kasc.evaluation.run_evaluation import column_labels

    assert column_labels(["mn04_probe", "mn04_probe_seed1", "mn04_probe_seed2", "ensemble"]) == [
        "mn04_probe", "mn04_…seed1", "mn04_…seed2", "ensemble"]
    assert column_labels(["bcresnet", "a_very_long_name"]) == ["bcresnet", "a_ver…_name"]
    assert column_labels(["mn04_probe-without1of4", "mn04_probe-without2of4"]) == ["mn04_…t1of4", "mn04_…t2of4"]
