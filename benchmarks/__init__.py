"""Side-by-side benchmarks of pyrometer against prometheus_client (``python -m benchmarks``)."""
