"""Fitting: PyMC models, inference backends, the grid runner, the run store and the CLI."""
