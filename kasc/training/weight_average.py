"""The moving average of the student's weights (``train.ema_momentum``; Polyak averaging).

Keras' optimisers keep it when built with ``use_ema=True``: after every step,
``average <- m * average + (1 - m) * weights`` for each trainable variable (the first step
copies the weights), in optimiser slots that the checkpoint saves with the rest of the
optimiser. At the end of ``fit`` Keras writes the average into the network, so the saved
``model.keras``, its scores and its TFLite files are the averaged network.

During training the network holds the weights of the last step (the optimiser needs them);
:class:`AveragedWeightsForValidation` swaps the average in for each epoch's validation, so
that the ``val_`` metrics, the CSV log, TensorBoard and the validation details score the
network that training will deliver.
"""

from __future__ import annotations

import keras
from keras import ops


def averaging_optimizer(optimizer):
    """The optimiser that holds the averages (the inner one of a ``LossScaleOptimizer``), or
    None when the weights are not averaged."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return inner if getattr(inner, "use_ema", False) else None


def _pairs(optimizer):
    """(variable, its average) for each variable the optimiser trains."""
    inner = averaging_optimizer(optimizer)
    if inner is None:
        raise ValueError("the optimiser keeps no moving average of the weights (use_ema is off)")
    averages = inner._model_variables_moving_average
    variables = inner._trainable_variables
    if len(averages) != len(variables):
        raise ValueError(f"the optimiser holds {len(averages)} averages for {len(variables)} variables")
    return [(var, avg) for var, avg in zip(variables, averages) if avg is not None]


def swap_averaged_weights(optimizer) -> None:
    """Exchange the values of the trained variables and of their moving averages."""
    for var, avg in _pairs(optimizer):
        current = ops.convert_to_numpy(var)
        var.assign(avg)
        avg.assign(current)


def load_averaged_weights(optimizer) -> None:
    """Write the moving averages into the trained variables (what Keras' ``fit`` does at
    its end): for a run resumed after its last epoch, where ``fit`` does not run."""
    for var, avg in _pairs(optimizer):
        var.assign(avg)


class AveragedWeightsForValidation(keras.callbacks.Callback):
    """Validation scores the moving average of the weights: swapped in when the epoch's
    validation begins, swapped back at the end of the epoch.

    Place it after every callback that should see the averaged network at the end of an
    epoch (the validation details) and before the checkpoint callback, so that the
    checkpoint holds the training weights in the network and the averages in the
    optimiser's slots, as resuming expects."""

    def __init__(self):
        super().__init__()
        self.swapped = False

    def on_test_begin(self, logs=None):
        if not self.swapped:
            swap_averaged_weights(self.model.optimizer)
            self.swapped = True

    def on_epoch_end(self, epoch, logs=None):
        if self.swapped:
            swap_averaged_weights(self.model.optimizer)
            self.swapped = False
