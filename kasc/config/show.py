"""Show a config as a run would use it: ``python -m kasc.config NAME [--profile P] [--set KEY=VALUE]``.

Prints the ``extends`` chain (every file, parents first, in the order they are merged) and
the fully resolved config as YAML (every field, defaults included, after the profile and
the overrides), then exits. Nothing is trained or written.
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from kasc.cli import describe, prog
from kasc.config import ConfigError, load_config
from kasc.config.loader import extends_chain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.config"), description=describe(__doc__))
    parser.add_argument("config", help="config name (configs/**/NAME.yaml, or its path there) or a YAML path")
    parser.add_argument("--profile", default=None, help="a profile of the config (e.g. 'fast')")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (repeatable), as kasc.train takes it")
    args = parser.parse_args(argv)
    try:
        chain = extends_chain(args.config)
        cfg = load_config(args.config, args.overrides, args.profile)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("# extends chain (merged in this order, later files win):")
    for path in chain:
        print(f"#   {path}")
    if args.profile:
        print(f"# profile: {args.profile}")
    for text in args.overrides:
        print(f"# --set {text}")

    print(yaml.safe_dump(json.loads(json.dumps(cfg.to_dict())), sort_keys=False), end="")  # tuples as lists
    return 0


if __name__ == "__main__":
    sys.exit(main())
