"""Training a class-conditional BigGAN prior on a folder of class folders (``dgp-studio train``)."""
from .config import TrainConfig
from .data import ClassFolderDataset, DatasetError, scan_class_folders
from .trainer import Trainer, TrainProgress

__all__ = ["TrainConfig", "Trainer", "TrainProgress", "ClassFolderDataset", "DatasetError",
           "scan_class_folders"]
