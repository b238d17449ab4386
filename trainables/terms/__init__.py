"""The terms a study file and its results are written in: the fixed choices, the registry a study names
datasets, GAN architectures and classifiers from, and the validation rule. No torch: the study's schema,
the plan and the analysis package read these without loading a model."""
