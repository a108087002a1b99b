"""The project's data files: where they are looked for, their checksums, and clear errors."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..atomic import atomic_path


@dataclass(frozen=True)
class DataFile:
    relpath: str  # relative to the data directory
    md5: str  # what the code checks
    sha256: str  # for checking a copy brought by hand with `sha256sum`; as in ../shared/data/SHA256SUMS
    size: int  # bytes
    urls: tuple[str, ...] = ()  # mirrors `python -m probgen.data ensure` tries in order (md5-checked)
    gunzip: bool = False  # the urls serve a .gz of the file


_GH = "https://raw.githubusercontent.com/"
# The MNIST mirrors of torchvision (S3) and of TensorFlow's tutorials (GCS); both serve the original files.
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
# What a user types to fetch every missing file (`make data` runs `ensure`, the quiet form of `download`;
# `make report` runs `make data`).
ENSURE_CMD = "make data   (or: .venv/bin/python -m probgen.data download)"


def _mnist(name: str, md5: str, sha256: str, size: int) -> "DataFile":
    return DataFile(f"mnist/{name}", md5, sha256, size, tuple(m + name for m in _MNIST_MIRRORS))


KNOWN_FILES: dict[str, DataFile] = {
    f.relpath: f
    for f in [
        _mnist("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
               "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        _mnist("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
               "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        _mnist("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        _mnist("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        DataFile("trueskill/SerieA.csv", "41fbbc576bf062b5249e3e00754ffdb6",
                 "5e9e52a4578c85736659653423ea6a7b946ec4cc6579515020b6a1b16f684cb3", 13761,
                 (_GH + "Gabriel-Arteaga/APML_Trueskill/16325ab286a846d5c33ab718f6afd5e2e11a48f2/data/SerieA.csv",)),
        DataFile("trueskill/chess_games.csv", "22a652ce21b9ecc314b979cf6b28d463",
                 "e7aadff104a610afb5403caf81c1461babecb0dc87760ff5eea7dc0e7a4a8129", 7672655,
                 (_GH + "BoyTiger-1/Chess-AI-Bot/ff0768d9b791654e36df3c3ab07fe88803b4eaa3/games.csv.gz",), gunzip=True),
        DataFile("gp/data_part_B.csv", "3f8189db0de0961ad430f50dab7096b4",
                 "4ceebd6a7389559fcaf245aa021fb0d9fa60595ab91fd59b148c4e5ceb3b48ae", 1529,
                 (_GH + "yabay0/ProbMLProject/a1e4bf76de9b836d012cb9a1850db66033d63976/Part_B/data_part_B.csv",)),
    ]
}


class DataFileError(FileNotFoundError):
    """A data file is missing or its checksum is wrong; the message says where we looked and what to do."""


@dataclass(frozen=True)
class Problem:
    """A known file that is not usable: `state` is "missing" or "md5 mismatch"; `tried` lists (url, error)."""

    known: DataFile
    path: Path
    state: str
    got_md5: str | None = None
    tried: tuple[tuple[str, str], ...] = ()


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def find(relpath: str, data_dir: str | os.PathLike | None = None, *, verify: bool = True) -> Path:
    """Path of a known data file under the data directory, checked against its md5.

    Raises `DataFileError` naming the file, every place looked in, its checksums
    and how to get it.
    """
    places = paths.data_search_path(data_dir)
    # Only the first place that applies is *the* data directory; the others are
    # listed so a user sees why a copy elsewhere was not used.
    base = places[0][1]
    path = base / relpath
    known = KNOWN_FILES.get(relpath)
    if not path.is_file():
        where = "; ".join(f"{label} = {p}" for label, p in places)
        msg = [f"data file {relpath!r} not found at {path}.", f"Data directory resolution (first applies): {where}."]
        if known:
            msg.append(f"Expected {known.size} bytes, md5 {known.md5}, sha256 {known.sha256}.")
            msg.append(f"To get it: {ENSURE_CMD} downloads and verifies every missing file; offline, copy it to "
                       f"{path} from a machine that has it, or point PROBGEN_DATA at a folder that has it "
                       "(CI uses ../shared/data). Sources: data/README.md.")
        else:
            msg.append("Or point PROBGEN_DATA at a folder that has it (CI uses ../shared/data).")
        raise DataFileError(" ".join(msg))
    if verify and known is not None:
        got = md5sum(path)
        if got != known.md5:
            raise DataFileError(
                f"data file {path} has md5 {got}, expected {known.md5}: it is corrupt or another version. "
                f"Delete it and run {ENSURE_CMD}, or replace it with the right file "
                f"({known.size} bytes, sha256 {known.sha256}; sources in data/README.md)."
            )
    return path


def problems(data_dir: str | os.PathLike | None = None) -> list[Problem]:
    """Every known file that is missing from the data directory or fails its md5, in `KNOWN_FILES` order."""
    base = paths.data_dir(data_dir)
    found = []
    for rel, known in KNOWN_FILES.items():
        p = base / rel
        if not p.is_file():
            found.append(Problem(known, p, "missing"))
        else:
            got = md5sum(p)
            if got != known.md5:
                found.append(Problem(known, p, "md5 mismatch", got_md5=got))
    return found


def status(data_dir: str | os.PathLike | None = None) -> list[tuple[str, str, str]]:
    """(file, found-at or '-', 'ok' | 'missing' | 'md5 mismatch') for every known file."""
    bad = {pr.known.relpath: pr.state for pr in problems(data_dir)}
    base = paths.data_dir(data_dir)
    return [(rel, "-" if bad.get(rel) == "missing" else str(base / rel), bad.get(rel, "ok")) for rel in KNOWN_FILES]


class DownloadError(DataFileError):
    """No mirror of a known file gave the right bytes; `problem.tried` lists each url and its error."""

    def __init__(self, problem: Problem, data_dir: str | os.PathLike | None = None):
        self.problem = problem
        super().__init__(what_to_do([problem], data_dir, headline=f"could not download {problem.known.relpath}."))


def download(relpath: str, data_dir: str | os.PathLike | None = None, *, log=print) -> Path:
    """Fetch a known file into the data directory, trying its mirrors in order.

    A download is kept only if its md5 matches; otherwise the next mirror is
    tried. A file already present with the right md5 is not fetched again.
    Raises `DownloadError` (every url tried, its error, and what to do) when no mirror works.
    """
    import gzip
    import shutil
    import urllib.request

    known = KNOWN_FILES[relpath]
    target = paths.data_dir(data_dir) / relpath
    had = target.is_file()
    got_md5 = md5sum(target) if had else None
    if got_md5 == known.md5:
        return target
    tried = []
    for url in known.urls:
        try:
            log(f"downloading {url}")
            with urllib.request.urlopen(url, timeout=60) as resp:
                target.parent.mkdir(parents=True, exist_ok=True)  # only once a mirror answers: no empty folders offline
                # A temporary file of its own (two processes may fetch the same file), renamed into place
                # only if its md5 matches.
                with atomic_path(target) as part:
                    with open(part, "wb") as out:
                        shutil.copyfileobj(gzip.GzipFile(fileobj=resp) if known.gunzip else resp, out)
                    got = md5sum(part)
                    if got != known.md5:
                        raise DataFileError(f"downloaded file has md5 {got}, expected {known.md5}; not kept")
            return target
        except Exception as exc:  # try the next mirror; report every failure if none works
            tried.append((url, f"{type(exc).__name__}: {exc}"))
    raise DownloadError(Problem(known, target, "md5 mismatch" if had else "missing", got_md5, tuple(tried)), data_dir)


def ensure(data_dir: str | os.PathLike | None = None, *, only: str = "", log=print) -> list[Path]:
    """Make every known file (whose path starts with `only`) present and verified, downloading what is missing.

    Files already present with the right md5 are left alone (no network). Every
    missing file is attempted before giving up, and the `DataFileError` raised
    then lists each file still missing: where it goes, its size and checksums,
    the urls tried with their errors, and what to do next.
    """
    failed = []
    for pr in problems(data_dir):
        if not pr.known.relpath.startswith(only):
            continue
        try:
            download(pr.known.relpath, data_dir, log=log)
            log(f"ok  {pr.path}")
        except DownloadError as exc:
            failed.append(exc.problem)
    if failed:
        n = sum(rel.startswith(only) for rel in KNOWN_FILES)
        raise DataFileError(what_to_do(failed, data_dir, headline=f"{len(failed)} of {n} data files are missing (or fail "
                                       "their md5) and could not be downloaded; each url's error is below."))
    return [paths.data_dir(data_dir) / rel for rel in KNOWN_FILES if rel.startswith(only)]


def what_to_do(found: list[Problem], data_dir: str | os.PathLike | None = None, *, headline: str) -> str:
    """The message for unusable files: each file's target path, size, checksums and urls, then the next steps."""
    label, base = paths.data_search_path(data_dir)[0]
    lines = [f"{headline}", f"Data directory: {base}  (from {label}; see data/README.md)", ""]
    for pr in found:
        k = pr.known
        state = pr.state if pr.got_md5 is None else f"{pr.state}: it has md5 {pr.got_md5} (corrupt or another version)"
        lines += [f"{k.relpath}  [{state}]",
                  f"    put it at  {pr.path}",
                  f"    size       {k.size} bytes",
                  f"    md5        {k.md5}",
                  f"    sha256     {k.sha256}"]
        gz = "  (serves a gzip; the file is its gunzipped content)" if k.gunzip else ""
        if pr.tried:
            for i, (url, err) in enumerate(pr.tried):
                lines += [f"    {'tried' if i == 0 else '':10s} {url}{gz}", f"    {'':10s}   -> {err}"]
        else:
            lines += [f"    {'from' if i == 0 else '':10s} {url}{gz}" for i, url in enumerate(k.urls)]
        lines.append("")
    mismatched = [pr for pr in found if pr.state != "missing"]
    lines += ["What to do next (any one of these):",
              f"  1. Copy the files from a machine or folder that has them to the paths above "
              f"(e.g. scp/rsync into {base}/), then check them with `make data-check`."
              + (" Delete or replace the mismatched files first." if mismatched else ""),
              "  2. Point PROBGEN_DATA at a folder that already holds them in this layout "
              f"({', '.join(sorted({rel.split('/')[0] + '/' for rel in KNOWN_FILES}))}), e.g.",
              "       PROBGEN_DATA=/path/to/data make report",
              f"  3. When this machine can reach the urls above: {ENSURE_CMD}.",
              "     It downloads only what is still missing and keeps a file only if its md5 matches.",
              "To check by hand: `md5sum FILE` or `sha256sum FILE` must print the checksums above."]
    return "\n".join(lines)
