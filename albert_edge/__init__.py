"""albert-edge: take a fine-tuned ALBERT classifier to phones and edge devices."""

__version__ = "0.1.0"
