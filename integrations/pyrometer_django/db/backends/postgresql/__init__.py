"""Django's ``postgresql`` backend with pyrometer's database metrics."""
