"""Bridges that forward the metrics of a registry to other monitoring systems."""
