"""Django's ``mysql`` backend with pyrometer's database metrics."""
