"""What ``import kasc`` arranges before TensorFlow and Keras load: a quiet TensorFlow
import, and kasc's custom layers registered with Keras.

- TensorFlow 2.21 prints its start-up notes ("oneDNN custom operations are on", "Could
  not find cuda drivers", absl's "All log messages before absl::InitializeLog()"), twice,
  from C++ while ``import tensorflow`` runs, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. They
  hide kasc's own output and look like failures. While TensorFlow is imported, kasc holds
  back the process's stderr at the file-descriptor level and then writes back every line
  except those notes (:data:`START_UP_NOISE`); anything else (a real warning or error)
  is shown as it came. ``TF_CPP_MIN_LOG_LEVEL=0`` (kasc's default is 3) shows everything.
- ``keras.models.load_model("model.keras")`` needs kasc's layers registered where a
  network has them (BC-ResNet; the others are written with Keras' own layers,
  :func:`kasc.models.saved.save_model`). Importing
  them costs the 7 s of a Keras import, which ``kasc --version`` or ``kasc --help`` should
  not pay; so kasc registers them right after Keras itself is imported (by kasc or by the
  user, before or after ``import kasc``).

Both are done by one import hook (:class:`_AfterImport`) for the modules ``tensorflow``
and ``keras``; nothing else is touched. :func:`native_notes_held_back` does the same for
LiteRT's "Created TensorFlow Lite XNNPACK delegate" note when kasc creates an interpreter.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile

START_UP_NOISE = re.compile(
    r"oneDNN custom operations are on|Could not find cuda drivers|failed call to cuInit"
    r"|All log messages before absl::InitializeLog\(\) is called|This TensorFlow binary is optimized"
    r"|To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT|Created TensorFlow Lite XNNPACK delegate for CPU")
"""TensorFlow's and LiteRT's start-up notes that kasc holds back (every other stderr line
is shown)."""


@contextlib.contextmanager
def native_notes_held_back():
    """Capture fd 2 (C++ writes there) in the block; then write back all but :data:`START_UP_NOISE`."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":  # the user asked for everything
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not START_UP_NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _import_quietly(execute, module) -> None:
    with native_notes_held_back():
        execute(module)


def _register_kasc_layers(execute, module) -> None:
    execute(module)
    import kasc.models  # noqa: F401 - registers kasc's layers with Keras (keras.saving.register_keras_serializable)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Wraps the loading of ``tensorflow`` (quietly) and ``keras`` (then kasc's layers)."""

    wrappers = {"tensorflow": _import_quietly, "keras": _register_kasc_layers}

    def find_spec(self, fullname, path, target=None):
        wrapper = self.wrappers.get(fullname)
        if wrapper is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module
        loader.exec_module = lambda module: wrapper(execute, module)
        return spec


def install() -> None:
    """Install the hook once; if Keras is already imported, register kasc's layers now."""
    if not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
    if "keras" in sys.modules and "kasc.models" not in sys.modules:
        import kasc.models  # noqa: F401
