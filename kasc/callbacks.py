"""Small Keras callbacks of the training loop."""

from __future__ import annotations

import math

import keras
from keras import ops


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimiser's current ``learning_rate`` to the epoch logs (so the CSV log
    has it; TensorBoard records it too). Place it before CSVLogger."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and remembers where.

    After ``fit`` returns, ``where`` is None or a dict (epoch, batch, loss, learning rate);
    ``model.diverged`` is set so that the checkpoint callback keeps the last good epoch.
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
            self.where = {"epoch": self._epoch + 1, "batch": int(batch) + 1, "loss": loss,
                          "learning_rate": float(ops.convert_to_numpy(self.model.optimizer.learning_rate))}
            self.model.diverged = True
            self.model.stop_training = True
