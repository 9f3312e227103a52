"""HDF5 split files: the schema, the writer, the reader, integrity checks and torch Datasets.

=============  =================================================================================
module         what it owns
=============  =================================================================================
``schema``     which splits a file holds (``SplitSpec``, shift splits), storage dtypes, checksums
``items``      how items are made (drawn from ``(seed, split, i)``, rendered, encoded)
``writer``     ``generate``: streamed, resumable, locked, parallel writing of a file
``metadata``   digests of the root's and each split's attributes, recorded when written
``workers``    rendering worker processes (ordered results, quiet on every interrupt)
``reader``     ``open_split_file``, ``split_meta``, ``load_split``, ``info``
``verify``     ``verify``: metadata digests, checksums, per-chunk digests and re-rendered samples
``datasets``   ``SpirographH5`` (a file) and ``SpirographRendered`` (the same items, no file)
``commands``   ``spirograph generate | verify | info | show``
=============  =================================================================================

Data flows one way: schema → items → writer → file → reader → verify / datasets.
"""

from .datasets import SpirographH5, SpirographRendered
from .reader import SplitFileError, SplitMeta, info, load_split, open_split_file, split_meta, split_names
from .schema import (
    DEFAULT_DTYPE,
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    SHIFT_FAMILIES,
    SplitSpec,
    decode,
    encode,
    parse_shifts,
    partial_path,
    plan_splits,
    shift_split_name,
    shifted_space,
    split_spec,
    storage_dtype,
)
from .verify import VerifyReport, verify
from .writer import COMPRESSIONS, DEFAULT_CHUNK, generate

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CHUNK",
    "DEFAULT_DTYPE",
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "SHIFT_FAMILIES",
    "SplitFileError",
    "SplitMeta",
    "SplitSpec",
    "SpirographH5",
    "SpirographRendered",
    "VerifyReport",
    "decode",
    "encode",
    "generate",
    "info",
    "load_split",
    "open_split_file",
    "parse_shifts",
    "partial_path",
    "plan_splits",
    "shift_split_name",
    "shifted_space",
    "split_meta",
    "split_names",
    "split_spec",
    "storage_dtype",
    "verify",
]
