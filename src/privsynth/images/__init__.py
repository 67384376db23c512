"""Image data for DP image generators: ``.npz`` loading and validation, PNG grids.

``load_images`` reads MNIST-layout or generic ``.npz`` files into :class:`ImageData`
(``uint8`` images, ``int64`` labels); ``write_grid`` and ``read_png`` handle sample grids.
Scoring synthetic images against real ones lives in :mod:`privsynth.evaluate.images`.
"""

from privsynth.images.data import ImageData, from_unit, load_images, save_images_npz, to_unit
from privsynth.images.png import grid_array, read_png, write_grid

__all__ = [
    "ImageData",
    "from_unit",
    "grid_array",
    "load_images",
    "read_png",
    "save_images_npz",
    "to_unit",
    "write_grid",
]
