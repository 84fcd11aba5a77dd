"""Reader for the MNIST files in IDX format (nothing is downloaded)."""

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["load_mnist"]

_IMAGES_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension
_BIG_ENDIAN_U32 = np.dtype(">u4")


def _find_idx_file(directory, name):
    """Return the path of ``name`` or ``name.gz`` in ``directory`` (plain first)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Neither {name!r} nor {name + '.gz'!r} was found in {str(directory)!r}. "
        "load_mnist reads local IDX files only and never downloads them."
    )


def _read_bytes(path):
    """Whole content of ``path``, decompressed when it ends in '.gz'."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _parse_idx(raw, path, *, magic, n_dims):
    """Check the header of an IDX byte string and return (dims, payload)."""
    header_size = 4 * (1 + n_dims)
    if len(raw) < header_size:
        raise ValueError(
            f"{str(path)!r} holds {len(raw)} bytes, fewer than the {header_size}-byte "
            "IDX header; the file is truncated or not an IDX file."
        )
    header = np.frombuffer(raw, dtype=_BIG_ENDIAN_U32, count=1 + n_dims)
    if int(header[0]) != magic:
        raise ValueError(
            f"{str(path)!r} has magic number {int(header[0])}, expected {magic} "
            f"(an IDX file of unsigned bytes with {n_dims} dimension"
            f"{'s' if n_dims > 1 else ''}); is it the right file?"
        )
    dims = tuple(int(d) for d in header[1:])
    expected = header_size + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(
            f"{str(path)!r} holds {len(raw)} bytes but its header "
            f"(sizes {dims}) announces {expected}; the file is truncated or corrupt."
        )
    return dims, np.frombuffer(raw, dtype=np.uint8, offset=header_size)


@validate_params(
    {"path": [str, os.PathLike], "kind": [StrOptions({"train", "t10k"})]},
    prefer_skip_nested_validation=True,
)
def load_mnist(path, *, kind="t10k"):
    """Load MNIST images and labels from local IDX files.

    Reads ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte`` from
    the directory ``path``, each either plain or gzipped (``.gz`` suffix; a
    plain file is preferred when both exist). Nothing is downloaded.

    Parameters
    ----------
    path : str or os.PathLike
        Directory holding the IDX files.

    kind : {"train", "t10k"}, default="t10k"
        Which split to read: the 60,000 training or the 10,000 test digits.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, n_rows * n_cols), dtype float64
            Flattened images with values in [0, 255] (784 columns for MNIST);
            use ``sample_shape=(28, 28), layout="image"`` with the
            estimators.
        images : ndarray of shape (n_samples, n_rows, n_cols), dtype uint8
            The raw images.
        target : ndarray of shape (n_samples,), dtype int64
            Digit labels.
        DESCR : str
            Description of the data set.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a directory or a file is missing.
    ValueError
        If a file has the wrong magic number or size, or if the numbers of
        images and labels differ.

    Examples
    --------
    With the files of the official test split in ``folder``:

    >>> mnist = load_mnist(folder, kind="t10k")  # doctest: +SKIP
    >>> mnist.data.shape, mnist.images.shape  # doctest: +SKIP
    ((10000, 784), (10000, 28, 28))

    A self-contained run on two blank images written as IDX files:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sklvar.datasets import load_mnist
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = Path(tmp)
    ...     header = np.array([2051, 2, 28, 28], dtype=">u4").tobytes()
    ...     _ = (folder / "t10k-images-idx3-ubyte").write_bytes(header + bytes(2 * 784))
    ...     header = np.array([2049, 2], dtype=">u4").tobytes()
    ...     _ = (folder / "t10k-labels-idx1-ubyte").write_bytes(header + bytes([3, 7]))
    ...     mnist = load_mnist(folder)
    >>> mnist.data.shape, mnist.images.dtype, mnist.target.tolist()
    ((2, 784), dtype('uint8'), [3, 7])
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"MNIST directory {str(directory)!r} does not exist or is not a "
            "directory; pass the folder holding the IDX files."
        )
    images_path = _find_idx_file(directory, f"{kind}-images-idx3-ubyte")
    labels_path = _find_idx_file(directory, f"{kind}-labels-idx1-ubyte")

    dims, pixels = _parse_idx(
        _read_bytes(images_path), images_path, magic=_IMAGES_MAGIC, n_dims=3
    )
    (n_labels,), labels = _parse_idx(
        _read_bytes(labels_path), labels_path, magic=_LABELS_MAGIC, n_dims=1
    )
    n_images, n_rows, n_cols = dims
    if n_images != n_labels:
        raise ValueError(
            f"{str(images_path)!r} holds {n_images} images but "
            f"{str(labels_path)!r} holds {n_labels} labels; expected the same number."
        )
    images = pixels.reshape(n_images, n_rows, n_cols).copy()
    descr = (
        f"MNIST handwritten digits ({kind} split) read from {str(directory)!r}: "
        f"{n_images} images of {n_rows}x{n_cols} pixels with values in [0, 255] "
        "and their labels. LeCun, Cortes and Burges, CC BY-SA 3.0."
    )
    return Bunch(
        data=images.reshape(n_images, -1).astype(np.float64),
        images=images,
        target=labels.astype(np.int64),
        DESCR=descr,
    )
