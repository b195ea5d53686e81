"""pyrometer.testing.samples: every series of one sample name, as a user's test reads them."""

import pytest
from pyrometer import CollectorRegistry, Counter, Gauge, Histogram
from pyrometer.testing import samples


def test_samples_lists_every_series_of_the_name_in_exposition_order():
    """Each labelled child appears once, in creation order, with its labels as a dict; other names are left out."""
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests.", ["route", "status"], registry=registry)
    requests.labels("/b", "200").inc(2)
    requests.labels("/a", "500").inc()
    Gauge("queue", "Queue.", registry=registry).set(7)
    assert samples("requests_total", registry) == [
        ({"route": "/b", "status": "200"}, 2.0),
        ({"route": "/a", "status": "500"}, 1.0),
    ]
    assert samples("queue", registry) == [({}, 7.0)]
    assert samples("requests", registry) == []  # the exact sample name, not a prefix


def test_samples_of_a_histogram_name_its_sample_suffix():
    """A histogram's buckets are read under the _bucket name, with le among the labels."""
    registry = CollectorRegistry()
    Histogram("latency_seconds", "Latency.", buckets=[0.5], registry=registry).observe(0.2)
    assert samples("latency_seconds_bucket", registry) == [({"le": "0.5"}, 1.0), ({"le": "+Inf"}, 1.0)]
    assert samples("latency_seconds_count", registry) == [({}, 1.0)]


def test_samples_reads_the_global_registry_by_default(metrics_registry):
    """Without a registry argument the global REGISTRY is read (here isolated by the metrics_registry fixture)."""
    Counter("jobs", "Jobs.").inc(3)
    assert samples("jobs_total") == [({}, 3.0)]


def test_samples_refuses_a_name_that_is_not_a_string():
    """A wrong argument type fails at the call with a clear message."""
    with pytest.raises(TypeError, match=r"^name must be a str, not list$"):
        samples(["jobs_total"])  # type: ignore[arg-type]
