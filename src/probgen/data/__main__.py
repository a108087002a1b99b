"""`python -m probgen.data ensure | download | download-mnist | check [--data-dir DIR]`.

ensure          make every data file present and verified: download what is missing (md5-checked),
                print nothing when all is there; `make data` runs it, and `make report` runs `make data`
download        the same, and say so when all is there
download-mnist  the same for the four MNIST files only
check           list every file and its state without downloading; say what to do for any that is not ok

A file that cannot be had exits with status 1 and a message that names, for every
such file, where it goes, its size, md5 and sha256, the urls tried, and what to do next.
"""

import argparse
import sys

from .. import paths
from . import files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["ensure", "download", "download-mnist", "check"])
    parser.add_argument("--data-dir", default=None, help="data directory (default: $PROBGEN_DATA, else <repo>/data)")
    args = parser.parse_args(argv)
    base = paths.data_dir(args.data_dir)
    if args.command == "check":
        return _check(args.data_dir)
    only = "mnist/" if args.command == "download-mnist" else ""
    try:
        got = files.ensure(args.data_dir, only=only)
    except files.DataFileError as exc:
        print(f"python -m probgen.data {args.command}: {exc}", file=sys.stderr)
        return 1
    if args.command != "ensure":
        print(f"all {len(got)} files present with the right md5 in {base}")
    return 0


def _check(data_dir) -> int:
    print(f"data directory: {paths.data_dir(data_dir)}")
    bad = files.problems(data_dir)
    state = {pr.known.relpath: pr.state for pr in bad}
    for rel in files.KNOWN_FILES:
        print(f"{state.get(rel, 'ok'):13s} {rel}")
    if not bad:
        return 0
    print(file=sys.stderr)
    print(files.what_to_do(bad, data_dir, headline=f"{len(bad)} of {len(files.KNOWN_FILES)} data files are "
                           "missing or do not match their md5; nothing was downloaded."), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
