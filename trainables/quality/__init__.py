"""GAN quality without downloads: the per-dataset scoring network, feature-space distances and the scores
(GAN-train, GAN-test, FD, KID, coverage, recall) a GAN key's meta.json records. Pure torch; no Ray."""
