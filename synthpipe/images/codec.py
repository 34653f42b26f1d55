"""PNG bytes <-> pixel arrays, and image tables <-> tensors."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from synthpipe.errors import InputError

IMAGE_COLUMN = "image"
MODES = {1: "L", 3: "RGB"}


def to_square(image: Image.Image, size: int, channels: int) -> Image.Image:
    """Centre-crop to a square, resize to `size` (Pillow filters antialias when shrinking), convert channels."""
    image = image.convert(MODES[channels])
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return image if side == size else image.resize((size, size), Image.Resampling.BICUBIC)


def encode_png(pixels: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint8 -> PNG bytes (lossless, so pixels survive the round trip)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_image(data: bytes, size: int, channels: int, where: str) -> np.ndarray:
    """Any Pillow-readable bytes -> (size, size, channels) uint8; errors name the image."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, TypeError) as exc:
        raise InputError(f"{where}: not a readable image: {exc}") from None
    pixels = np.asarray(to_square(image, size, channels), dtype=np.uint8)
    return pixels.reshape(size, size, channels)


def image_table(pixels: np.ndarray, labels: pd.Series | np.ndarray, label_column: str) -> pd.DataFrame:
    """(N, H, W, C) uint8 + labels -> the Parquet layout every image stage reads: PNG bytes, label, height, width."""
    squeeze = pixels.shape[-1] == 1
    images = [encode_png(p[..., 0] if squeeze else p) for p in pixels]
    return pd.DataFrame({IMAGE_COLUMN: images, label_column: np.asarray(labels),
                         "height": np.full(len(images), pixels.shape[1], dtype=np.int64),
                         "width": np.full(len(images), pixels.shape[2], dtype=np.int64)})


@dataclass
class ImageBatch:
    """A whole image table as tensors: uint8 images (N, C, S, S), class indices, and the class labels."""

    images: torch.Tensor
    targets: torch.Tensor
    classes: list

    def scaled(self) -> torch.Tensor:
        """Pixels in [-1, 1], the range the generator's tanh produces."""
        return self.images.float() / 127.5 - 1


def table_to_batch(df: pd.DataFrame, label_column: str, channels: int, classes: list, source: str) -> ImageBatch:
    """Decode a stage table; `classes` fixes the index of each label (unknown labels are an error)."""
    size = int(df["height"].iloc[0])
    index = {label: i for i, label in enumerate(classes)}
    unknown = sorted(set(df[label_column]) - set(index), key=str)
    if unknown:
        raise InputError(f"{source}: labels {unknown[:5]} are not among the known classes {classes}")
    pixels = np.stack([decode_image(data, size, channels, f"{source} row {i}")
                       for i, data in enumerate(df[IMAGE_COLUMN])])
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    targets = torch.tensor([index[label] for label in df[label_column]], dtype=torch.long)
    return ImageBatch(images, targets, list(classes))


def sorted_classes(labels: pd.Series) -> list:
    """Class labels in a stable order, as plain Python values (they go into JSON)."""
    return sorted(pd.unique(labels).tolist(), key=lambda v: (str(type(v)), v))
