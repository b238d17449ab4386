"""The GAN engine: architectures, layers, losses, augmentation, per-class groups, one training step, the
GAN key (job), checkpoints, the synthetic pool and sample grids. Pure torch; no Ray."""
