"""The one error every way of reading a dataset raises when the data cannot be had.

It lives apart from the readers (tfds, image folders, shapes10) because all of them raise it and
the run plan catches it: every module imports it, and it imports nothing.
"""


class DatasetUnavailableError(ValueError):
    """The dataset cannot be read: unknown name, not prepared in `data_dir`, download failed, or
    an image folder that is missing or unusable. The message says what, where and how to fix it."""
