"""keras.applications' ImageNet weight files, fetched as keras.applications fetches them.

One table holds the files deepnets can port (`deepnets.models.keras_weights`): the same origins
and file hashes as keras.applications (keras/src/applications/vgg16.py, vgg19.py, resnet.py).
`imagenet_weights_file` downloads one with `keras.utils.get_file` into Keras' cache
(`~/.keras/models`, or under `KERAS_HOME`), checks its hash, and reuses it after that.
"""

from __future__ import annotations

import dataclasses
import os

import keras

ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
# Where the files go: None for Keras' own cache (~/.keras, or KERAS_HOME when Keras started);
# set it to keep them elsewhere.
CACHE_DIR: str | None = None


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One keras.applications weights file.

    Attributes:
        file_name: its name, in Keras' cache too.
        origin: the URL keras.applications downloads it from.
        file_hash: its md5 hash, as keras.applications checks it.
    """

    file_name: str
    origin: str
    file_hash: str


def _file(folder: str, name: str, file_hash: str) -> WeightsFile:
    return WeightsFile(name, f"{ORIGIN}{folder}/{name}", file_hash)


_TOP, _NO_TOP = (
    "_weights_tf_dim_ordering_tf_kernels.h5",
    "_weights_tf_dim_ordering_tf_kernels_notop.h5",
)
# (model name, with the 1000-class classifier) -> the file.
IMAGENET_WEIGHTS: dict[tuple[str, bool], WeightsFile] = {
    ("vgg16", True): _file("vgg16", "vgg16" + _TOP, "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): _file("vgg16", "vgg16" + _NO_TOP, "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): _file("vgg19", "vgg19" + _TOP, "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): _file("vgg19", "vgg19" + _NO_TOP, "253f8cb515780f3b799900260a226db6"),
    ("resnet50", True): _file("resnet", "resnet50" + _TOP, "2cb95161c43110f7111970584f804107"),
    ("resnet50", False): _file("resnet", "resnet50" + _NO_TOP, "4d473c1dd8becc155b73f8504c6f6626"),
    ("resnet101", True): _file("resnet", "resnet101" + _TOP, "f1aeb4b969a6efcfb50fad2f0c20cfc5"),
    ("resnet101", False): _file(
        "resnet", "resnet101" + _NO_TOP, "88cf7a10940856eca736dc7b7e228a21"
    ),
    ("resnet152", True): _file("resnet", "resnet152" + _TOP, "100835be76be38e30d865e96f2aaae62"),
    ("resnet152", False): _file(
        "resnet", "resnet152" + _NO_TOP, "ee4c566cf9a93f14d82f913c2dc6dd0c"
    ),
}
IMAGENET_MODELS = tuple(dict.fromkeys(name for name, _ in IMAGENET_WEIGHTS))


class WeightsDownloadError(OSError):
    """A keras.applications weights file could not be downloaded, or arrived damaged."""


def imagenet_weights_file(name: str, include_top: bool = False) -> str:
    """The local path of keras.applications' ImageNet weights of a model, downloaded once.

    Args:
        name: one of `IMAGENET_MODELS` ("vgg16", "vgg19", "resnet50", "resnet101", "resnet152").
        include_top: the file with the 1000-class classifier (VGG's is 9x the size).

    Returns:
        The file's path in the cache's `models/` folder (`CACHE_DIR`), its md5 hash checked.

    Raises:
        ValueError: `name` has no ImageNet weights here.
        WeightsDownloadError: no network, or the file's hash differs from keras.applications'.
            The message names the file and its URL and says how to pass a file instead.
    """
    key = (name, bool(include_top))
    if key not in IMAGENET_WEIGHTS:
        raise ValueError(
            f"`name`={name!r} has no keras.applications ImageNet weights; choose from "
            f"{', '.join(IMAGENET_MODELS)}."
        )
    entry = IMAGENET_WEIGHTS[key]
    if CACHE_DIR is not None:  # get_file falls back to /tmp/.keras for a folder not yet made
        os.makedirs(CACHE_DIR, exist_ok=True)
    try:
        return keras.utils.get_file(
            entry.file_name,
            entry.origin,
            cache_subdir="models",
            file_hash=entry.file_hash,
            cache_dir=CACHE_DIR,
        )
    except ValueError:  # get_file's hash check
        reason = f"its md5 hash is not keras.applications' {entry.file_hash} (damaged or changed)"
    except Exception as err:  # get_file raises a bare Exception for a failed fetch
        # "URL fetch failure on <origin>: <code> -- <reason>": the origin is said below.
        text = str(err).strip()
        reason = text.splitlines()[0].split(" -- ", 1)[-1] if text else type(err).__name__
    raise WeightsDownloadError(
        f"could not download {entry.file_name} from {entry.origin} ({reason}); download it "
        "where there is a network and pass its path instead of 'imagenet' (e.g. "
        "--init_weights=PATH)."
    )
