"""Salvo: the entrypoint library shared by the executor and controller images."""

__version__ = "0.1.0"
