"""The DCASE 2023 Task 1 limits, and the input an audit assumes by default (no imports: the
command's --help reads them before TensorFlow loads)."""

DCASE2023_MAX_PARAM_BYTES = 128 * 1024
"""DCASE 2023 Task 1: at most 128 KB of parameter memory, at the stored precision."""
DCASE2023_MAX_MACS = 30_000_000
"""DCASE 2023 Task 1: at most 30 million multiply-accumulates per 1 s clip."""
DEFAULT_INPUT_SHAPE = (28, 256, 1)
"""One 1 s clip through the report's front end: (frames, mel bands, channels)."""
