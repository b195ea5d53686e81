"""Root conftest of the suite; it holds no fixtures.

Its presence makes pytest (``prepend`` import mode, no ``__init__.py`` in ``tests``) put ``tests`` on
``sys.path``, so that modules in any tests directory can import the helpers shared across directories,
such as ``process_helpers``, by name.
"""
