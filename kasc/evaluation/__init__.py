"""Scoring behind ``python -m kasc.evaluate`` and ``kasc.compare``: DCASE metrics
(``metrics``), a model's probabilities on a split (``inference``), the confusion-matrix
picture (``confusion_plot``) and the DCASE output CSV (``output_csv``)."""
