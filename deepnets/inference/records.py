"""`Prediction`: what `deepnets.predict` says about one image."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The top classes of one image, or why it has none.

    Attributes:
        image: the file's path as given; for an array, "images[i]" (the i-th item of `images`)
            or "images[i][j]" (the j-th image of a batch given as the i-th item).
        classes: the top-k class names, most probable first; () when the image has an error.
        probabilities: the probability of each of `classes`.
        indices: the model's output index of each of `classes`.
        error: why the image could not be classified ("no such file or folder", "Unknown image
            file format. ..."), or None when it was.
    """

    image: str
    classes: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    indices: tuple[int, ...] = ()
    error: str | None = None

    @property
    def top_class(self) -> str | None:
        """The most probable class name, or None when the image has an error."""
        return self.classes[0] if self.classes else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values: the image, its predictions (class, index, probability) and error."""
        return {
            "image": self.image,
            "predictions": [
                {"class": name, "index": index, "probability": probability}
                for name, index, probability in zip(
                    self.classes, self.indices, self.probabilities, strict=True
                )
            ],
            "error": self.error,
        }
