"""The fixed choices a study file may name, in one place that imports nothing heavy: the study's
schema checks a file against them without importing torch, and the training code enforces the same
tuples."""

CONDITIONINGS = ("per-class", "conditional")   # one GAN per class, or one class-conditional GAN
AUGMENTS = ("none", "classic")                 # the classifier's training-time augmentation
FOLDER_PREFIX = "folder:"                      # dataset = "folder:PATH": an image folder per class
