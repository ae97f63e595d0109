"""images: pull, tag, remove and inspect images; layers shared through snapshots."""

from ketch.images.model import Image
from ketch.images.service import ImageService

__all__ = ["Image", "ImageService"]
