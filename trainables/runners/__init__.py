"""The Ray runners on top of the engines: the Ray Train run that trains GAN keys (trainer, worker loop,
per-key loop, the keys end to end) and the classifier trial that Ray Tune runs. Only this room imports Ray."""
