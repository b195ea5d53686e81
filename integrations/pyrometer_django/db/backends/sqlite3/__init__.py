"""Django's ``sqlite3`` backend with pyrometer's database metrics."""
