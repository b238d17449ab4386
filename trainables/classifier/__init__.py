"""The classifier engine: the classifier registry and the one training loop (fit) that trials, GAN quality
scores and benchmarks share. Pure torch; no Ray."""
