"""Real image files for the image-folder tests: JPEG and PNG by TensorFlow's encoders, BMP and GIF
by Pillow (a dependency of matplotlib), and the broken files a real folder holds."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image


def pixels(height: int, width: int, seed: int, channels: int = 3) -> np.ndarray:
    """Random uint8 pixels [height, width, channels]."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def write(path: Path, contents: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(contents)
    return path


def jpeg(image: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(image, quality=95).numpy()


def png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(image).numpy()


def bmp(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="BMP")
    return out.getvalue()


def gif(frames: list[np.ndarray]) -> bytes:
    """An animated GIF of solid-colour frames (exact in a GIF palette)."""
    out = io.BytesIO()
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return out.getvalue()


def truncated_jpeg(seed: int) -> bytes:
    whole = jpeg(pixels(32, 32, seed))
    return whole[: len(whole) // 2]


def solid(height: int, width: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (height, width, 3)).copy()


def class_folders(root: Path, counts: dict[str, int], size: int = 32, seed: int = 0) -> Path:
    """root/<class>/<i>.jpg: `counts[class]` random JPEGs of size x size per class."""
    for index, (name, count) in enumerate(counts.items()):
        for i in range(count):
            write(root / name / f"{i:03d}.jpg", jpeg(pixels(size, size, seed + 1000 * index + i)))
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


def mixed_folder(root: Path) -> dict[str, list[str]]:
    """Three classes of every format, size and flaw; returns which files are which (relative).

    cat: six 32x32 JPEGs, a truncated JPEG, a text file named .jpg, a hidden JPEG, a hidden
    folder with a JPEG, a notes.txt; dog: PNGs of other sizes, grayscale and RGBA among them;
    owl: a BMP, an animated GIF (red first frame), an upper-case .JPG, a JPEG in a sub-folder.
    Beside the class folders: a README and a .DS_Store.
    """
    good = []
    for i in range(6):
        good.append(f"cat/{i}.jpg")
        write(root / good[-1], jpeg(pixels(32, 32, i)))
    write(root / "cat/truncated.jpg", truncated_jpeg(99))
    write(root / "cat/not_an_image.jpg", b"this is text, not a JPEG\n")
    write(root / "cat/.hidden.jpg", jpeg(pixels(32, 32, 7)))
    write(root / "cat/.thumbs/0.jpg", jpeg(pixels(8, 8, 8)))
    write(root / "cat/notes.txt", b"seen at night\n")
    dog = {
        "dog/rgb.png": pixels(20, 30, 10),
        "dog/gray.png": pixels(24, 24, 11, channels=1),
        "dog/rgba.png": pixels(40, 24, 12, channels=4),
        "dog/small.png": pixels(16, 16, 13),
        "dog/wide.png": pixels(18, 48, 14),
    }
    for name, image in dog.items():
        write(root / name, png(image))
        good.append(name)
    write(root / "owl/bitmap.bmp", bmp(pixels(28, 36, 20)))
    write(root / "owl/animated.gif", gif([solid(30, 30, (255, 0, 0)), solid(30, 30, (0, 0, 255))]))
    write(root / "owl/upper.JPG", jpeg(pixels(32, 32, 21)))
    write(root / "owl/nested/deep.jpeg", jpeg(pixels(32, 32, 22)))
    good += ["owl/bitmap.bmp", "owl/animated.gif", "owl/upper.JPG", "owl/nested/deep.jpeg"]
    write(root / "README.md", b"# my photos\n")
    write(root / ".DS_Store", b"\x00\x01")
    return {
        "good": sorted(good),
        "skipped": ["cat/not_an_image.jpg", "cat/truncated.jpg"],
        "ignored": ["cat/notes.txt"],
    }
