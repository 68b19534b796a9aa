"""Datasets (TAU22, TAU20, DCASE 2024 splits, generic CSV), the audio cache and tf.data pipelines.

``python -m kasc.data`` prints dataset statistics and draws log-mel spectrograms.
"""
