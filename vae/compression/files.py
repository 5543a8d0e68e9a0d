"""Digits on disk: an ``.npz`` archive or a folder of PNG files, binary (chapter 9) or grey (chapter 10).

An ``.npz`` holds one array of images ``(count, 28, 28)`` (or with a trailing
channel of 1); when it holds several, the one named ``images`` is used. A
PNG folder holds one 28x28 image per file; files are read in name order and
their names are kept, so decompression writes the same file names back.

* binary (the lossless codec): 0/1 arrays; PNGs black and white (1-bit, or
  8-bit grey with only 0 and 255);
* grey (the lossy codec, ``grey=True``): float arrays in [0, 1] or uint8
  grey levels 0..255; PNGs of any mode, read as 8-bit grey. Grey images are
  written as float32 to an ``.npz`` (exactly what the decoder produced) or
  rounded to 8-bit grey PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vae.checkpoint import atomic_path
from vae.compression.codec import binary_images


def read_images(path, grey: bool = False) -> tuple[np.ndarray, list[str] | None]:
    """Binary (or, with ``grey=True``, grey) images from an ``.npz`` file or a folder of PNGs.

    Returns:
        ``(images, names)``: binary, uint8 ``(count, 28, 28)`` of 0s and 1s;
        grey, float32 ``(count, 28, 28, 1)`` in [0, 1]; and the PNG file
        names (None for an ``.npz``).

    Raises:
        ValueError: a missing path, an unreadable file, or images that are
            not 28x28 (binary: black and white; grey: in [0, 1] or uint8).

    Introduced in chapter 9.
    """
    path = Path(path)
    convert = _grey_images if grey else binary_images
    if path.is_dir():
        return _read_png_folder(path, grey)
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    if path.suffix.lower() != ".npz":
        raise ValueError(f"{path}: expected an .npz file or a folder of .png files")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = archive.files
            if not keys:
                raise ValueError(f"{path}: the archive holds no arrays")
            key = "images" if "images" in keys else keys[0]
            if len(keys) > 1 and key != "images":
                raise ValueError(f"{path}: several arrays ({', '.join(keys)}) and none named 'images'")
            array = archive[key]
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    try:
        return convert(array), None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _grey_images(array) -> np.ndarray:
    from vae.lossy.coding import grey_images  # the lossy package imports this one

    return grey_images(array)


def _read_png_folder(folder: Path, grey: bool) -> tuple[np.ndarray, list[str]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise ValueError(f"{folder}: the folder holds no .png files")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = np.asarray(image.convert("L"))
        except OSError as error:
            raise ValueError(f"{file}: not a readable PNG ({error})") from None
        if pixels.shape != (28, 28):
            raise ValueError(f"{file}: expected a 28x28 image, got {pixels.shape[1]}x{pixels.shape[0]}")
        if not grey and not np.all((pixels == 0) | (pixels == 255)):
            raise ValueError(f"{file}: expected black and white pixels only (0 or 255)")
        images.append(pixels if grey else pixels // 255)
    names = [f.name for f in files]
    if grey:
        return _grey_images(np.stack(images)), names
    return np.stack(images).astype(np.uint8), names


def write_images(path, images, names: list[str] | None = None, grey: bool = False) -> None:
    """Write binary images as an ``.npz`` (key ``images``) or a folder of 1-bit PNGs.

    With ``grey=True``, grey images in [0, 1]: float32 in the ``.npz``, 8-bit
    grey PNGs (rounded to the nearest of the 256 levels).

    A path ending in ``.npz`` gets an archive, written atomically; any other
    path is a folder (created if needed) that receives one PNG per image,
    named by ``names`` or ``00000.png``, ``00001.png``, ... Existing files
    are never overwritten: a clash is an error before anything is written.

    Introduced in chapter 9.
    """
    path, images = Path(path), (_grey_images(images)[..., 0] if grey else binary_images(images))
    if path.suffix.lower() == ".npz":
        if path.exists():
            raise ValueError(f"{path} exists; remove it or choose another name")
        with atomic_path(path, suffix=".npz") as temporary:
            np.savez_compressed(temporary, images=images)
        return
    names = names or [f"{i:05d}.png" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images")
    if any(Path(name).name != name or not name.lower().endswith(".png") for name in names):
        raise ValueError("names must be plain file names ending in .png")
    clashes = [name for name in names if (path / name).exists()]
    if clashes:
        raise ValueError(f"{path / clashes[0]} exists ({len(clashes)} clashes); choose an empty folder")
    path.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names):
        pixels = np.rint(image * 255).astype(np.uint8) if grey else image.astype(bool)
        Image.fromarray(pixels).save(path / name, format="PNG", optimize=True)
