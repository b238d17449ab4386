"""The study: spec file, presets, the Ray Tune driver and the `study` command line."""
