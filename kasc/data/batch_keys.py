"""The names of the training targets, the dict every pipeline batch carries.

A batch is ``(spectra, targets)``, ``targets`` always a dict:

- ``LABELS``: one-hot labels (batch, n_classes), mixed by mixup;
- ``SOFT_TARGETS``: the teacher ensemble's soft targets softmax(z / T) (batch,
  n_classes), present when they were computed ahead (cached), mixed with the same
  lambda as the labels.

The pipeline writes these keys and the Distiller reads them; no other spelling exists.
"""

LABELS = "label"
SOFT_TARGETS = "soft_targets"
