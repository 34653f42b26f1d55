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


IMAGE_EXAMPLES = {"digits": digits}


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
