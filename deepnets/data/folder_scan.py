"""Reading an image folder: its layout, its files, and the one decode pass that finds bad files.

`scan(name)` lists the folder (a fraction of a second for 50,000 files) and decodes every image
file once (3-4 s for 50,000 small JPEGs on two cores). A `DatasetSource` scans its folder once,
when it is opened, and its pipelines use the files of that scan (they never decode the whole
folder again mid-run); nothing is kept between sources. The decode pass is one parallel tf.data
pass over `(index, decode(file))` with `ignore_errors()`: the indices that come out are the files
that decode; the others are skipped and named in one `ImageFolderWarning`. See
`deepnets.data.folders` for the layouts.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import tensorflow as tf

from deepnets.data.autotuning import without_autotuning
from deepnets.data.errors import DatasetUnavailableError
from deepnets.data.images import IMAGE_EXTENSIONS, has_image_extension, read_image

TRAIN_FOLDER = "train"
EVAL_FOLDERS = ("val", "validation", "test")
_PATHS_SHOWN = 5
_EXTENSIONS = ", ".join(IMAGE_EXTENSIONS)


class ImageFolderWarning(UserWarning):
    """Files of an image folder that are not used: images that do not decode, non-image files.

    Attributes:
        folder: the image folder (absolute path).
        skipped_files: absolute paths of the files with an image extension that do not decode.
        num_ignored: files without an image extension inside the class folders.
    """

    def __init__(self, folder: str, skipped_files: tuple[str, ...], num_ignored: int) -> None:
        self.folder = folder
        self.skipped_files = skipped_files
        self.num_ignored = num_ignored
        parts = []
        if skipped_files:
            parts.append(
                f"skipped {len(skipped_files)} image file(s) that do not decode "
                f"({_first_few(skipped_files)})"
            )
        if num_ignored:
            parts.append(f"ignored {num_ignored} file(s) without an image extension")
        super().__init__(f"image folder {folder}: {' and '.join(parts)}")


@dataclasses.dataclass(frozen=True)
class ClassFiles:
    """The image files of one folder of class folders (the root, or a split folder).

    Attributes:
        directory: absolute path of the folder that holds the class folders.
        relpaths: file paths relative to `directory` ("cat/0001.jpg"), by label, then path.
        labels: the label of each file (the index of its class in the class names).
    """

    directory: str
    relpaths: tuple[str, ...]
    labels: tuple[int, ...]

    def paths(self) -> list[str]:
        """The absolute paths."""
        return [os.path.join(self.directory, relpath) for relpath in self.relpaths]

    def select(self, indices: list[int]) -> ClassFiles:
        """The files at `indices`."""
        relpaths = tuple(self.relpaths[i] for i in indices)
        return ClassFiles(self.directory, relpaths, tuple(self.labels[i] for i in indices))


@dataclasses.dataclass(frozen=True)
class ScannedFolder:
    """An image folder after listing and decoding: only files that decode are kept.

    Attributes:
        root: absolute path of the folder.
        class_names: sorted class folder names; labels index them.
        train: the training images (all class images without split folders).
        evaluation: the images of the eval folder, or None when there is none.
        eval_folder: "val", "validation" or "test", or None.
        image_shape: (H, W, 3) when every image has that size, else (None, None, 3).
        skipped_files: absolute paths of the image files that do not decode.
    """

    root: str
    class_names: tuple[str, ...]
    train: ClassFiles
    evaluation: ClassFiles | None
    eval_folder: str | None
    image_shape: tuple[int | None, int | None, int]
    skipped_files: tuple[str, ...]


def scan(name: str) -> ScannedFolder:
    """Lists an image folder and decodes every image file once.

    Args:
        name: the folder's path ("~" is expanded; relative to the working directory).

    Returns:
        The folder's readable images. Emits one `ImageFolderWarning` when files are skipped
        or ignored.

    Raises:
        DatasetUnavailableError: no such directory, no class folders, an empty class folder,
            fewer than two classes, or a class without a readable image.
    """
    root = os.path.abspath(os.path.expanduser(name))
    if not os.path.isdir(root):
        what = "is a file, not a directory" if os.path.exists(root) else "does not exist"
        raise DatasetUnavailableError(
            f"Image folder {name!r} {what} ({root}). An image folder holds one folder of images "
            "per class: PATH/<class>/<image>, or PATH/train/<class>/<image> with PATH/val/..."
        )
    folders = _visible_dirs(root)
    split_layout = TRAIN_FOLDER in folders
    train_dir = os.path.join(root, TRAIN_FOLDER) if split_layout else root
    eval_folder = next((f for f in EVAL_FOLDERS if f in folders), None) if split_layout else None
    class_names = tuple(_visible_dirs(train_dir))
    train, ignored = _list_classes(root, train_dir, list(enumerate(class_names)))
    evaluation = None
    if eval_folder is not None:
        eval_dir = os.path.join(root, eval_folder)
        eval_classes = _visible_dirs(eval_dir)
        unknown = sorted(set(eval_classes) - set(class_names))
        if unknown:
            raise DatasetUnavailableError(
                f"Image folder {root}: {eval_dir} has class folder(s) {', '.join(unknown)} that "
                f"{train_dir} does not have; the eval classes must be training classes."
            )
        labelled = [(label, n) for label, n in enumerate(class_names) if n in eval_classes]
        evaluation, eval_ignored = _list_classes(root, eval_dir, labelled)
        ignored += eval_ignored
    if len(class_names) < 2:
        found = f"only {os.path.join(train_dir, class_names[0])}" if class_names else "none"
        raise DatasetUnavailableError(
            f"Image folder {root} needs at least two class folders ({train_dir}/<class>/<image>); "
            f"found {found}."
        )
    folder = _keep_decodable(root, class_names, train, evaluation, eval_folder)
    if folder.skipped_files or ignored:
        warnings.warn(ImageFolderWarning(root, folder.skipped_files, ignored), stacklevel=2)
    return folder


def _visible_dirs(path: str) -> list[str]:
    """Sorted names of the sub-folders of `path` whose names do not start with "."."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def _list_classes(
    root: str, directory: str, classes: list[tuple[int, str]]
) -> tuple[ClassFiles, int]:
    """The image files in the class folders of `directory` (recursively).

    Returns:
        (the files, how many visible files without an image extension the class folders hold).
    """
    relpaths, labels, ignored, empty = [], [], 0, []
    for label, class_name in classes:
        class_dir = os.path.join(directory, class_name)
        found = []
        for parent, dirs, files in os.walk(class_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in files:
                if file.startswith("."):
                    continue
                if not has_image_extension(file):
                    ignored += 1
                    continue
                found.append(os.path.relpath(os.path.join(parent, file), directory))
        if not found:
            empty.append(class_dir)
        found.sort()
        relpaths += found
        labels += [label] * len(found)
    if not classes:
        raise DatasetUnavailableError(
            f"Image folder {root} has no class folders in {directory}: expected "
            f"{directory}/<class>/<image> (the images of each class in a folder of its own)."
        )
    if not relpaths:
        raise DatasetUnavailableError(
            f"Image folder {root} has no image files ({_EXTENSIONS}) in the class folders of "
            f"{directory}."
        )
    if empty:
        raise DatasetUnavailableError(
            f"Image folder {root}: {len(empty)} class folder(s) hold no image file "
            f"({_EXTENSIONS}): {_first_few(empty)}. Remove them or add images."
        )
    return ClassFiles(directory, tuple(relpaths), tuple(labels)), ignored


def _keep_decodable(
    root: str,
    class_names: tuple[str, ...],
    train: ClassFiles,
    evaluation: ClassFiles | None,
    eval_folder: str | None,
) -> ScannedFolder:
    """The folder with only the files that decode, their common size, and the skipped files."""
    parts = [train] + ([evaluation] if evaluation is not None else [])
    paths = [path for part in parts for path in part.paths()]
    indices, shapes = decodable_files(paths)
    good = np.zeros(len(paths), bool)
    good[indices] = True
    kept, offset = [], 0
    for part in parts:
        mask = good[offset : offset + len(part.relpaths)]
        offset += len(part.relpaths)
        readable = part.select(np.flatnonzero(mask).tolist())
        lost = sorted(set(part.labels) - set(readable.labels))
        if lost:
            folders = [os.path.join(part.directory, class_names[label]) for label in lost]
            raise DatasetUnavailableError(
                f"Image folder {root}: no image file of class folder(s) {_first_few(folders)} "
                "decodes."
            )
        kept.append(readable)
    sizes = {tuple(s) for s in shapes.tolist()}
    height, width = sizes.pop() if len(sizes) == 1 else (None, None)
    return ScannedFolder(
        root=root,
        class_names=class_names,
        train=kept[0],
        evaluation=kept[1] if evaluation is not None else None,
        eval_folder=eval_folder,
        image_shape=(height, width, 3),
        skipped_files=tuple(path for path, ok in zip(paths, good, strict=True) if not ok),
    )


def decodable_files(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which files decode (with `decode_image`), decoding all of them in parallel.

    Args:
        paths: image file paths.

    Returns:
        (indices, sizes): int64 [k] indices into `paths` of the files that decode, ascending,
        and int32 [k, 2] their (height, width).
    """
    files = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string)).enumerate()
    sizes = files.map(
        tf.autograph.experimental.do_not_convert(
            lambda index, path: (index, tf.shape(read_image(path))[:2])
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    indices, shapes = [np.zeros([0], np.int64)], [np.zeros([0, 2], np.int32)]
    batches = without_autotuning(sizes.ignore_errors().batch(4096))
    for batch_indices, batch_shapes in batches.as_numpy_iterator():
        indices.append(batch_indices)
        shapes.append(batch_shapes)
    indices, shapes = np.concatenate(indices), np.concatenate(shapes)
    order = np.argsort(indices)
    return indices[order], shapes[order]


def _first_few(paths: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(paths[:_PATHS_SHOWN])
    return shown + (f", and {len(paths) - _PATHS_SHOWN} more" if len(paths) > _PATHS_SHOWN else "")
