"""Loading a config: ``extends``, ``profiles``, ``--set`` overrides, path anchoring, then the rule book.

A named experiment ``NAME`` lives in ``configs/<folder>/NAME.yaml``. A file may start from another
one with ``extends: OTHER`` (deep merge, the child wins), or from several with
``extends: [A, B]`` (B wins over A) and may define named profiles
(``profiles: {fast: {train.epochs: 2, ...}}``) applied with ``profile="fast"``. Command
line overrides (``--set train.epochs=2``) are applied last; their values are parsed as
YAML (``2`` is an int, ``0.5`` a float, ``[1, 2]`` a list, ``null`` None).

Every key is checked against the dataclasses: an unknown key or a value of the wrong
type raises :class:`ConfigError` naming the dotted key and the file it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from kasc.config.schema import ConfigError, ExperimentConfig, from_dict
from kasc.config.syntax import (PATH_SETTINGS, beside, config_path, in_config_roots, load_yaml, parse_override,
                                yaml_problem)
from kasc.config.validate import check_values
from kasc.config.run_layout import is_run_config


def _deep_merge(base: dict, update: Mapping) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(tree: dict, dotted: str, value: Any) -> dict:
    """Return a copy of ``tree`` with ``a.b.c = value`` (intermediate dicts created)."""
    head, _, rest = dotted.partition(".")
    out = dict(tree)
    if rest:
        child = out.get(head, {})
        if not isinstance(child, Mapping):
            raise ConfigError(f"cannot set '{dotted}': '{head}' is not a section")
        out[head] = _set_dotted(dict(child), rest, value)
    else:
        out[head] = value
    return out


def _apply_overrides(tree: dict, overrides: Mapping[str, Any]) -> dict:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and "." not in key:
            tree = _deep_merge(tree, {key: value})
        else:
            tree = _set_dotted(tree, key, value)
    return tree


def _anchor_paths(tree: dict, base: Path) -> dict:
    """``tree`` with the relative :data:`PATH_SETTINGS` made absolute from ``base``."""
    for dotted in PATH_SETTINGS:
        section, key = dotted.split(".")
        value = tree.get(section, {}).get(key) if isinstance(tree.get(section), Mapping) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            tree = _set_dotted(tree, dotted, str((base / Path(value).expanduser()).resolve()))
    return tree


def _names_from_folder(tree: dict, parents: list[str], folder: Path) -> tuple[dict, list[str]]:
    """A user's config names its ``extends`` and ``distill.teachers`` from its own folder
    first: each name with a YAML file beside it (``mine`` or ``sub/mine.yaml`` ->
    ``<folder>/sub/mine.yaml``) becomes that file's path; the rest stay kasc's config names."""
    parents = [str(found) if (found := beside(name, folder)) else name for name in parents]
    distill = tree.get("distill")
    teachers = distill.get("teachers") if isinstance(distill, Mapping) else None
    if isinstance(teachers, list):
        entries = []
        for entry in teachers:
            name, _, settings = entry.partition(" ") if isinstance(entry, str) else (entry, "", "")
            found = beside(name, folder) if isinstance(name, str) and name else None
            entries.append(f"{found} {settings}".strip() if found else entry)
        tree = _set_dotted(tree, "distill.teachers", entries)
    return tree, parents


def _read_tree(path: Path, seen: tuple[Path, ...] = (), run_config: bool = False,
               files: list[Path] | None = None) -> tuple[dict, dict]:
    """Read a YAML file following ``extends``; return (tree, profiles). Relative paths of a
    file outside kasc's ``configs/`` are anchored at the file's folder (:data:`PATH_SETTINGS`).
    ``files``, if given, receives every file read, parents before the files that extend them."""
    if path.resolve() in seen:  # resolved: a cycle through relative names is still one
        raise ConfigError(f"{path}: 'extends' cycle through {[str(p) for p in seen]}")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(err)}") from err
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    raw = dict(raw)
    users_own = not in_config_roots(path) and not (run_config or is_run_config(path))
    if users_own:
        raw = _anchor_paths(raw, path.resolve().parent)
    parent = raw.pop("extends", None)
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"{path}: 'profiles' must map profile names to overrides")
    parents = [parent] if isinstance(parent, str) else list(parent or [])
    if not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{path}: 'extends' must name a config or list configs, got {parent!r}")
    if users_own:
        raw, parents = _names_from_folder(raw, parents, path.resolve().parent)
    base_tree, base_profiles = {}, {}
    for name in parents:  # later parents win over earlier ones, the file over all of them
        tree, more_profiles = _read_tree(config_path(name), seen + (path.resolve(),), files=files)
        base_tree = _deep_merge(base_tree, tree)
        base_profiles = _merge_profiles(base_profiles, more_profiles)
    if files is not None:
        files.append(path)
    return _deep_merge(base_tree, raw), _merge_profiles(base_profiles, profiles)


def extends_chain(name_or_path: str | Path) -> list[Path]:
    """The config files merged for ``name_or_path``, read as :func:`load_config` reads them
    (same YAML rules, names and cycle check): parents before children (depth first, each
    parent list in order), each file once, the file itself last."""
    files: list[Path] = []
    _read_tree(config_path(name_or_path), files=files)
    return list(dict.fromkeys(files))


def _merge_profiles(base: Mapping, child: Mapping) -> dict:
    """Profiles of a parent and a child: a profile both define keeps the parent's
    overrides and takes the child's on top (a child adding one fast-profile setting keeps
    the parent's few-epochs, few-clips settings)."""
    merged = {name: dict(overrides or {}) for name, overrides in base.items()}
    for name, overrides in child.items():
        merged[name] = {**merged.get(name, {}), **(overrides or {})}
    return merged


def changed_settings(base: "ExperimentConfig", changed: "ExperimentConfig",
                     settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of ``settings`` (dotted keys) whose value differs between ``base`` and
    ``changed`` (the config loaded without and with them)."""
    def get(tree: Any, dotted: str) -> Any:
        for part in dotted.split("."):
            tree = tree.get(part) if isinstance(tree, Mapping) else None
        return tree

    before, after = base.to_dict(), changed.to_dict()
    return {key: value for key, value in (settings or {}).items() if get(before, key) != get(after, key)}


def load_config(
    name_or_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    profile: str | None = None,
    settings: Mapping[str, Any] | None = None,
    run_config: bool = False,
) -> ExperimentConfig:
    """Load a named experiment (or YAML path), apply a profile, then ``settings`` (dotted
    keys to values, e.g. a student's ``distill.teacher_set``), then ``--set`` overrides.
    ``run_config``: the file is a run folder's ``config.yaml`` (relative paths from the
    clone, as kasc's configs gave them; recognised by itself once the run has trained)."""
    path = config_path(name_or_path)
    tree, profiles = _read_tree(path, run_config=run_config)  # a run's config.yaml: paths from the clone
    if profile:
        if profile not in profiles:
            raise ConfigError(
                f"{path}: no profile '{profile}' (profiles: {', '.join(sorted(profiles)) or 'none'})"
            )
        tree = _apply_overrides(tree, profiles[profile])
    if settings:
        tree = _apply_overrides(tree, settings)
    for text in overrides:
        key, value = parse_override(text)
        if key in PATH_SETTINGS and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            value = str((Path.cwd() / Path(value).expanduser()).resolve())  # --set: from where the user stands
        tree = _set_dotted(tree, key, value)
    tree.setdefault("name", path.stem)
    source = (f"{path}" + (f" (profile {profile})" if profile else "") + (" + teacher_set" if settings else "")
              + (" + --set" if overrides else ""))
    cfg = from_dict(ExperimentConfig, tree, source=source)
    check_values(cfg, source, teachers_must_exist=not (run_config or is_run_config(path)),
                 load_teacher=lambda name, settings: load_config(name, settings=settings))
    return cfg
