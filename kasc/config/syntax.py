"""How configs are written and named: YAML (:class:`ConfigLoader`), ``--set key=value``
overrides, ``distill.teachers`` entries with their own settings, config names
(:func:`config_path`) and the paths settings name (:func:`resolve_path`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from kasc.config.schema import CONFIG_DIR, STUDY_CONFIG_DIR, ConfigError, project_root


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two YAML 1.1 traps closed: numbers in scientific notation
    without a dot or an exponent sign (``1e-4``, ``5e3``) are floats, as in YAML 1.2, not
    strings; a key given twice in one mapping is an error naming the key and its line
    (PyYAML keeps the last silently); and anchors may not expand beyond
    :data:`MAX_EXPANDED_VALUES` values."""


MAX_EXPANDED_VALUES = 100_000
"""A config file whose anchors and aliases would expand to more values than this is refused
(eight levels of nine aliases make 43 million: a "billion laughs" file)."""


def expanded_values(node: yaml.Node, memo: dict | None = None) -> int:
    """How many values ``node`` holds with every alias expanded (each distinct node counted
    once per reference; computed once per node)."""
    memo = {} if memo is None else memo
    if id(node) not in memo:
        if isinstance(node, yaml.MappingNode):
            memo[id(node)] = 1 + sum(expanded_values(k, memo) + expanded_values(v, memo) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            memo[id(node)] = 1 + sum(expanded_values(item, memo) for item in node.value)
        else:
            memo[id(node)] = 1
    return memo[id(node)]


def _single_node_within_bounds(loader: "ConfigLoader"):
    node = yaml.SafeLoader.get_single_node(loader)
    if node is not None and (size := expanded_values(node)) > MAX_EXPANDED_VALUES:
        raise yaml.composer.ComposerError(None, None, f"anchors and aliases expand to {size:,} values (at most "
                                          f"{MAX_EXPANDED_VALUES:,})", node.start_mark)
    return node


ConfigLoader.get_single_node = _single_node_within_bounds
ConfigLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"""),
    list("-+0123456789"))


def _construct_mapping(loader: ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' is given twice in one mapping (first on line {seen[key] + 1}); "
                f"only one value can hold", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str):
    """Parse YAML text with :class:`ConfigLoader` (safe: no Python objects)."""
    return yaml.load(text, Loader=ConfigLoader)


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: the problem and where (``line L, column C``), without
    the excerpt PyYAML draws under it."""
    mark = getattr(err, "problem_mark", None)
    problem = ": ".join(str(part) for part in (getattr(err, "context", None), getattr(err, "problem", None)) if part)
    if not problem:
        return " ".join(str(err).split())
    return problem + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark else "")


def known_configs() -> dict[str, list[Path]]:
    """Config name (file stem) -> the files of kasc's configs with that stem (one, unless
    two folders hold the same name)."""
    found: dict[str, list[Path]] = {}
    for root in config_roots():
        for path in sorted(root.rglob("*.yaml")):
            found.setdefault(path.stem, []).append(path)
    return found


def config_roots() -> list[Path]:
    """Where configs are found by name: kasc's own (:data:`CONFIG_DIR`), then, in a clone,
    the studies' (:data:`STUDY_CONFIG_DIR`)."""
    return [CONFIG_DIR] + ([STUDY_CONFIG_DIR] if STUDY_CONFIG_DIR.is_dir() else [])


def config_folder(path: Path) -> str:
    """The folder a config file sits in, named from its root: ``report`` for kasc's
    ``configs/report/x.yaml``, ``experiments/us8k`` for a study's."""
    for root in config_roots():
        if path.resolve().is_relative_to(root.resolve()):
            folder = str(path.resolve().parent.relative_to(root.resolve()))
            return folder if root == CONFIG_DIR else f"experiments/{folder}"
    return str(path.parent)


def in_config_roots(path: Path) -> bool:
    """Whether ``path`` is one of kasc's or the studies' configs (their relative paths are
    taken from the clone)."""
    return any(path.resolve().is_relative_to(root.resolve()) for root in config_roots())


def beside(name: str, folder: Path) -> Path | None:
    """The YAML file that ``name`` (a name, or a relative path with or without ``.yaml``)
    means in ``folder``, if there is one: how a user's own config names its ``extends`` and
    ``distill.teachers`` (from the file's folder first, as its data paths)."""
    if Path(name).is_absolute():
        return None
    for candidate in (folder / name, folder / f"{name}.yaml"):
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate.resolve()
    return None


def config_path(name_or_path: str | Path) -> Path:
    """``submission3`` or ``report/submission3`` -> ``configs/report/submission3.yaml``
    (a config is named by its unique stem or its path under ``configs/``); a path to a
    YAML file is kept.

    Raises:
      ConfigError: no such config (the known names are listed), or a stem that two folders
        hold (both paths are named).
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ConfigError(f"config file not found: {candidate}")
        return candidate
    if "/" in str(name_or_path):
        for root in config_roots():
            path = root / f"{name_or_path}.yaml"
            if path.is_file():
                return path
        raise ConfigError(f"no config '{name_or_path}' ({CONFIG_DIR / name_or_path}.yaml does not exist)")
    known = known_configs()
    matches = known.get(str(name_or_path), [])
    if len(matches) > 1:
        found = ", ".join(f"{config_folder(p)}/{p.stem}" for p in matches)
        raise ConfigError(f"config name '{name_or_path}' is ambiguous: {found}; give the path")
    if not matches:
        raise ConfigError(f"no config named '{name_or_path}' in {CONFIG_DIR}; known: {', '.join(sorted(known))}")
    return matches[0]


PATH_SETTINGS = ("data.root", "data.manifest", "data.subset_csv", "data.cache_dir", "augment.dir_folder",
                 "train.init_from")
"""Settings that name files or folders. A relative one is taken from the kasc clone (an
installed kasc: the current directory; :func:`~kasc.config.schema.project_root`) in
kasc's own ``configs/`` and in a run folder's ``config.yaml``, from the YAML file's folder
in any other config file, and from the current directory in ``--set`` (``data.audio_dir``
is always taken from the manifest's folder)."""


def parse_teacher(entry: str) -> tuple[str, dict[str, Any]]:
    """A ``distill.teachers`` entry: a config name (or YAML path), optionally followed by
    settings of that teacher alone, ``"us8k_teacher_mn04_probe train.seed=1"`` ->
    ``("us8k_teacher_mn04_probe", {"train.seed": 1})`` (so a second seed of a teacher needs
    no copy of its config)."""
    name, *settings = entry.split()
    if not name:
        raise ConfigError(f"distill.teachers: an empty entry {entry!r}")
    return name, dict(parse_override(text) for text in settings)


def teacher_run_name(name: str, settings: Mapping[str, Any] | None) -> str:
    """The run folder name of teacher ``name`` under ``settings``: the name alone, or with
    each setting as ``--<last key part><value>`` in key order
    (``us8k_teacher_cnn--train_split2--valid_split1``)."""
    parts = [f"{key.rsplit('.', 1)[-1]}{value}" for key, value in sorted((settings or {}).items())]
    return "--".join([name, *("".join(c if c.isalnum() or c in "._-" else "_" for c in p) for p in parts)])


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=2"`` -> ``("train.epochs", 2)``; the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' must look like section.key=value")
    try:
        parsed = load_yaml(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override '{text}': value is not valid YAML: {yaml_problem(err)}") from err
    return key.strip(), parsed


def resolve_path(path: str, base: Path | None = None) -> Path:
    """A config path: absolute kept, ``~`` expanded, relative taken from ``base`` (default:
    :func:`~kasc.config.schema.project_root`, the kasc clone)."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return ((base or project_root()) / p).resolve()
