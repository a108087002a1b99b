"""`python -m probgen.data check | download | download-mnist [--data-dir DIR]`."""

import argparse
import sys

from .. import paths
from .files import KNOWN_FILES, download, status
from .mnist import download_mnist


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.data", description=__doc__)
    parser.add_argument("command", choices=["check", "download", "download-mnist"])
    parser.add_argument("--data-dir", default=None, help="data directory (default: $PROBGEN_DATA, else <repo>/data)")
    args = parser.parse_args(argv)
    if args.command == "download":
        for rel in KNOWN_FILES:
            if not rel.startswith("mnist/"):
                print(f"ok  {download(rel, args.data_dir)}")
        args.command = "download-mnist"
    if args.command == "download-mnist":
        for p in download_mnist(args.data_dir):
            print(f"ok  {p}")
        return 0
    print(f"data directory: {paths.data_dir(args.data_dir)}")
    rows = status(args.data_dir)
    for rel, where, state in rows:
        print(f"{state:13s} {rel}")
    return 0 if all(s == "ok" for _, _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
