"""Where things live, resolved from the repository root (never from the working directory).

papermill, nbmake and Jupyter Book each run notebooks from a different working
directory, so every path in the project goes through these functions.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The repository root: the nearest parent of the package holding `pyproject.toml`.

    `PROBGEN_ROOT` overrides it (useful for a non-editable install).
    """
    env = os.environ.get("PROBGEN_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    for parent in _PACKAGE_DIR.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "probgen").is_dir():
            return parent
    # Installed without the source tree: keep outputs in the working directory.
    return Path.cwd().resolve()


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data directory: `explicit`, else `$PROBGEN_DATA`, else `<repo>/data/`."""
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("PROBGEN_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return repo_root() / "data"


def data_search_path(explicit: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """Every place `data_dir` would consider, in order, for error messages."""
    places = []
    if explicit is not None:
        places.append(("data_dir argument", Path(explicit).expanduser().resolve()))
    if os.environ.get("PROBGEN_DATA"):
        places.append(("$PROBGEN_DATA", Path(os.environ["PROBGEN_DATA"]).expanduser().resolve()))
    places.append(("<repo>/data", repo_root() / "data"))
    return places


class UnwritableFolderError(OSError):
    """An output folder cannot be created or written; the message says which variable points elsewhere."""


def unwritable(folder: Path, env: str | None, reason: Exception | None = None) -> UnwritableFolderError:
    """The error for an output folder that cannot be written (`env`: the variable that relocates it)."""
    why = f" ({type(reason).__name__}: {reason})" if reason else ""
    fix = f"set ${env} to a writable folder" if env else "make it writable"
    return UnwritableFolderError(f"cannot write to {folder}{why}: {fix}")


def ensure_folder(path: Path, env: str | None = None) -> Path:
    """Create `path` and check it can be written, so a bad folder is reported before anything is computed."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only parent, a regular file in the way, ...
        raise unwritable(path, env, exc) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise unwritable(path, env)
    return path


def cache_dir(*parts: str) -> Path:
    """Git-ignored cache for trained models and expensive results: `<repo>/cache/...` (or `$PROBGEN_CACHE`).

    Raises `UnwritableFolderError` if the folder cannot be created or written.
    """
    base = Path(os.environ["PROBGEN_CACHE"]) if os.environ.get("PROBGEN_CACHE") else repo_root() / "cache"
    return ensure_folder(base.joinpath(*parts), "PROBGEN_CACHE")


def figures_dir() -> Path:
    """Where `plotting.savefig` writes: `<repo>/figures/` (or `$PROBGEN_FIGURES`).

    In a run that is not the book's own (a sweep, or non-default parameters; see `probgen.runs`), figures go
    to `<run folder>/figures/` instead.
    """
    if _run_folder is not None:
        return ensure_folder(_run_folder / "figures", "PROBGEN_RUNS")
    env = os.environ.get("PROBGEN_FIGURES")
    return ensure_folder(Path(env) if env else repo_root() / "figures", "PROBGEN_FIGURES")


def runs_dir(*parts: str) -> Path:
    """Where sweeps and runs with non-default parameters write: `<repo>/runs/...` (or `$PROBGEN_RUNS`)."""
    env = os.environ.get("PROBGEN_RUNS")
    return (Path(env) if env else repo_root() / "runs").joinpath(*parts)


_run_folder: Path | None = None  # set by `reporting.Results` for a run that is not the book's own


def set_run_folder(folder: Path | None) -> None:
    """Send this process's results file and figures to `folder` (None: the book's own folders)."""
    global _run_folder
    _run_folder = None if folder is None else Path(folder)


def run_folder() -> Path | None:
    """The folder this process's run writes into, or None for the book's own run."""
    return _run_folder


def results_dir(profile: str | None = None) -> Path:
    """Where results files go: `<repo>/results/<profile>/` (or `$PROBGEN_RESULTS`)."""
    env = os.environ.get("PROBGEN_RESULTS")
    base = Path(env) if env else repo_root() / "results"
    return ensure_folder(base / profile if profile else base, "PROBGEN_RESULTS")


def executed_dir() -> Path:
    """Where papermill writes executed notebooks for the book: `<repo>/executed/`."""
    return ensure_folder(repo_root() / "executed")


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"
