"""The 0.1 import path of the split-file API, kept so existing code runs: the code lives in ``spirograph.splits``."""

from .splits import (
    SplitFileError,
    SplitMeta,
    VerifyReport,
    generate,
    info,
    load_split,
    open_split_file,
    partial_path,
    split_meta,
    split_names,
    verify,
)

__all__ = [
    "SplitFileError",
    "SplitMeta",
    "VerifyReport",
    "generate",
    "info",
    "load_split",
    "open_split_file",
    "partial_path",
    "split_meta",
    "split_names",
    "verify",
]
