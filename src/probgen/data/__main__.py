"""`python -m probgen.data check | download | download-mnist [--data-dir DIR]`."""

import argparse
import sys

from .. import paths
from .files import KNOWN_FILES, download, status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.data", description=__doc__)
    parser.add_argument("command", choices=["check", "download", "download-mnist"])
    parser.add_argument("--data-dir", default=None, help="data directory (default: $PROBGEN_DATA, else <repo>/data)")
    args = parser.parse_args(argv)
    if args.command in ("download", "download-mnist"):
        wanted = [rel for rel in KNOWN_FILES if args.command == "download" or rel.startswith("mnist/")]
        for rel in wanted:
            print(f"ok  {download(rel, args.data_dir)}")
        return 0
    print(f"data directory: {paths.data_dir(args.data_dir)}")
    rows = status(args.data_dir)
    for rel, where, state in rows:
        print(f"{state:13s} {rel}")
    return 0 if all(s == "ok" for _, _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
