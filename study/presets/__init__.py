"""Bundled study presets: one TOML study file each, listed by `study presets`, printed by `study show`."""
