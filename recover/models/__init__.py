"""Bayesian MMMs in PyMC: the model builder and the PyTensor twins of the media transforms."""
