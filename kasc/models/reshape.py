"""Rebuilding a functional model for another input shape."""

from __future__ import annotations

import keras


def with_input_shape(model, input_shape: tuple):
    """Rebuild a functional model (nested ones included) with a fixed input shape, so
    that every layer's output shape is static, and in float32 throughout (a model trained
    with a mixed-precision policy is exported and audited as the float32 network it is:
    its variables are float32)."""

    def patch(config):
        if isinstance(config, dict):
            if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(config.get("config"), dict):
                config["config"]["name"] = "float32"
            if config.get("class_name") == "InputLayer":
                cfg = config["config"]
                key = "batch_shape" if "batch_shape" in cfg else "batch_input_shape"
                if key in cfg and len(cfg[key]) == len(input_shape) + 1:
                    cfg[key] = [None, *input_shape]
            for value in config.values():
                patch(value)
        elif isinstance(config, list):
            for value in config:
                patch(value)

    config = model.get_config()
    patch({"class_name": "root", "config": config})
    return model.__class__.from_config(config, custom_objects=keras.saving.get_custom_objects())


def fixed_shape_model(model, input_shape: tuple):
    """A copy of ``model`` (same weights) with a static input shape (batch, *input_shape)."""
    fixed = with_input_shape(model, tuple(input_shape))
    fixed.set_weights(model.get_weights())
    return fixed
