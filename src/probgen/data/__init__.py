"""Data sets of the book: MNIST views, match data, and where the files are."""

from .files import KNOWN_FILES, DataFileError, find, status
from .matches import MalformedDataError, filter_chess, load_chess, load_serie_a
from .mnist import MNIST, download_mnist, load_mnist, read_idx, to_view

__all__ = [
    "KNOWN_FILES", "DataFileError", "find", "status",
    "MalformedDataError", "filter_chess", "load_chess", "load_serie_a",
    "MNIST", "download_mnist", "load_mnist", "read_idx", "to_view",
]
