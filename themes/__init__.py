"""Theme files shipped with slmdeck (installed as the package tui.themes)."""
