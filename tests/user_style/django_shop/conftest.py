"""The project's root conftest: opting in to pyrometer's fixtures the way the docs say."""

pytest_plugins = ["pyrometer.testing"]
