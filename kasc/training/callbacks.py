"""Small Keras callbacks of the training loop."""

from __future__ import annotations

import io
import math
import time

import keras
import numpy as np
from keras import ops
import tensorflow as tf
import matplotlib.pyplot as plt

from kasc.evaluation.confusion_plot import confusion_figure
from kasc.evaluation.inference import keras_probabilities
from kasc.evaluation.metrics import split_report
from kasc.files.runs import RunDir


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimiser's current ``learning_rate`` to the epoch logs (so the CSV log
    has it; TensorBoard records it too). Place it before CSVLogger."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite value and remembers where: a batch whose
    loss is NaN or infinite, or at the end of an epoch any non-finite training or
    validation metric or student weight (on oneDNN a diverged network can keep a finite
    training loss while its validation loss is NaN).

    After ``fit`` returns, ``where`` is None or a dict (epoch, batch or None, ``what``
    went non-finite, learning rate); ``model.diverged`` is set so that the checkpoint
    callback keeps the last good epoch. Place it before the checkpoint callback.
    """

    def __init__(self):
        super().__init__()
        self.where = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.where is not None:
            return
        loss = float(ops.convert_to_numpy(loss))
        if not math.isfinite(loss):
            self._stop(int(batch) + 1, f"the training loss became {loss}")

    def on_epoch_end(self, epoch, logs=None):
        if self.where is not None:
            return
        bad = []
        for name, value in (logs or {}).items():
            try:
                number = float(ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                bad.append(f"{name} = {number}")
        network = getattr(self.model, "student", self.model)
        broken = [v.path for v in network.weights if not np.isfinite(ops.convert_to_numpy(v)).all()]
        if broken:
            bad.append(f"{len(broken)} weight tensor(s) of {network.name} ({', '.join(broken[:2])}"
                       f"{', ...' if len(broken) > 2 else ''})")
        if bad:
            self._stop(None, "non-finite " + "; ".join(bad))

    def _stop(self, batch, what: str) -> None:
        self.where = {"epoch": self._epoch + 1, "batch": batch, "what": what,
                      "learning_rate": float(ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        self.model.diverged = True
        self.model.stop_training = True


class ValidationDetails(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), writes to TensorBoard the validation
    accuracy per device and per class and an image of the confusion matrix.

    Args:
      model_to_evaluate: the network (the Distiller's student).
      data: the validation split (``SplitData``).
      logmel: the front end.
      log_dir: TensorBoard folder (a ``validation_details`` writer is created in it).
      every: epochs between evaluations (0 disables).
      batch_size: clips per batch.
    """

    def __init__(self, model_to_evaluate, data, logmel, log_dir, every: int, batch_size: int = 64):
        super().__init__()
        self.network, self.data, self.logmel = model_to_evaluate, data, logmel
        self.log_dir, self.every, self.batch_size = str(log_dir), int(every), batch_size
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == (self.params or {}).get("epochs")
        if self.every <= 0 or ((epoch + 1) % self.every and not last):
            return


        probabilities = keras_probabilities(self.network, self.data, self.logmel, self.batch_size)
        report = split_report(self.data.table, self.data.labels, probabilities, self.data.class_names)
        figure = confusion_figure(report["confusion_matrix"], report["class_names"],
                                  f"epoch {epoch + 1}: accuracy {report['accuracy']:.3f}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)

        plt.close(figure)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/validation_details")
        with self._writer.as_default(step=epoch):
            tf.summary.scalar("class_macro_accuracy", report["macro_class_accuracy"] or 0.0)
            for device, values in report.get("per_device", {}).items():
                tf.summary.scalar(f"device_accuracy/{device}", values["accuracy"])
            for group, values in report.get("device_groups", {}).items():
                tf.summary.scalar(f"device_group_accuracy/{group}", values["accuracy"])
            for name, value in report["per_class_accuracy"].items():
                if value is not None:
                    tf.summary.scalar(f"class_accuracy/{name}", value)
            tf.summary.image("confusion_matrix", tf.image.decode_png(buffer.getvalue(), channels=4)[tf.newaxis])
        self._writer.flush()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the run's checkpoint at the end of every epoch (unless training diverged).

    Args:
      run: the run folder.
      train_seconds: training time spent before this session (resumed runs).
    """

    def __init__(self, run: RunDir, train_seconds: float = 0.0):
        super().__init__()
        self.run = run
        self.train_seconds = train_seconds
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.monotonic() - self._epoch_start
        if getattr(self.model, "diverged", None):
            return
        self.run.save_checkpoint(self.model, epoch + 1, self.train_seconds)
