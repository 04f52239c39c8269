"""DGP Studio: image restoration and manipulation with a Deep Generative Prior."""
__version__ = "0.1.0"
