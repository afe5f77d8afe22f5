"""Presence: who the executor is, its sockets to the controller, its Status, and its state on disk for health checks."""
