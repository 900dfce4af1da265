"""Headless subcommands of the `slmdeck` CLI; each module has register() and run()."""
