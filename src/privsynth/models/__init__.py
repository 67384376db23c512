"""The DP release on disk: a folder with a JSON manifest and arrays, never pickle."""

from privsynth.models.store import load_model_folder, save_model_folder

__all__ = ["load_model_folder", "save_model_folder"]
