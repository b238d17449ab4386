"""Datasets: readers and their registry, decoding a user's images, the disk cache of decoded tensors,
class-balanced sampling and the validation split. Pure torch; no Ray."""
