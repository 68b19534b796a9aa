"""The DCASE 2023 Task 1 baseline network (the official Keras baseline of the 2022/2023
challenge), kept as a reference model for comparisons.

Three 7x7 conv-BN-ReLU layers (16, 16, 32 channels) with 'same' padding, max pooling
(5, 5) after the second and a pooling that collapses time after the third, dropout 0.3
after each pooling, flatten, dense 100 (ReLU), dropout 0.3, dense logits and softmax.

The official baseline takes 40 mel bands x 51 frames (40 ms windows, 20 ms hop at
44.1 kHz) as (mels, frames); kasc keeps (frames, mels), so its pooling (4, 100) over
(mels, frames) is (100, 4) here. With that front end (config ``baseline``) the network
has 46,246 trainable parameters and 29.4 M MACs, the published size (46.5 K, 29.2 M).
On the report's 256-band input it is much larger: it is not a low-complexity model there.
"""

from __future__ import annotations

import keras
from keras import layers

from kasc.models.blocks import conv_bn_relu, logits_and_probabilities


def build_dcase2023_baseline(input_shape=(51, 40, 1), n_classes: int = 10, dropout: float = 0.3,
                             name: str = "dcase2023_baseline") -> keras.Model:
    """The baseline network; input (frames, mels, 1) with a fixed frame count (it flattens)."""
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = conv_bn_relu(inputs, 16, 7, "conv1", use_bias=True)
    x = conv_bn_relu(x, 16, 7, "conv2", use_bias=True)
    x = layers.MaxPooling2D((5, 5), padding="same", name="pool1")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = conv_bn_relu(x, 32, 7, "conv3", use_bias=True)
    x = layers.MaxPooling2D((100, 4), padding="same", name="pool2")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(100, activation="relu", name="dense1")(x)
    x = layers.Dropout(dropout, name="dropout3")(x)
    outputs = logits_and_probabilities(x, n_classes)
    return keras.Model(inputs, outputs, name=name)
