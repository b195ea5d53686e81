"""The io.prometheus.client messages as protobuf classes, built at import from a descriptor written here.

Test-only: decodes pyrometer's hand-written protobuf output with the real ``protobuf`` runtime, no protoc
needed. Field numbers are those of prometheus/client_model's metrics.proto.
:func:`absolute` reads native bucket spans and deltas back into counts.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

import pytest

descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
from google.protobuf import descriptor_pool, message_factory, timestamp_pb2  # noqa: E402

_F = descriptor_pb2.FieldDescriptorProto
OPT, REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
DOUBLE, INT64, UINT64, INT32, STRING = _F.TYPE_DOUBLE, _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_INT32, _F.TYPE_STRING
MESSAGE, UINT32, ENUM, SINT32, SINT64 = _F.TYPE_MESSAGE, _F.TYPE_UINT32, _F.TYPE_ENUM, _F.TYPE_SINT32, _F.TYPE_SINT64
_TS = ".google.protobuf.Timestamp"

_MESSAGES: List[Tuple[str, List[Tuple[str, int, int, int, str]]]] = [
    ("LabelPair", [("name", 1, STRING, OPT, ""), ("value", 2, STRING, OPT, "")]),
    ("Gauge", [("value", 1, DOUBLE, OPT, "")]),
    ("Counter", [("value", 1, DOUBLE, OPT, ""), ("exemplar", 2, MESSAGE, OPT, "Exemplar"),
                 ("created_timestamp", 3, MESSAGE, OPT, _TS)]),
    ("Quantile", [("quantile", 1, DOUBLE, OPT, ""), ("value", 2, DOUBLE, OPT, "")]),
    ("Summary", [("sample_count", 1, UINT64, OPT, ""), ("sample_sum", 2, DOUBLE, OPT, ""),
                 ("quantile", 3, MESSAGE, REP, "Quantile"), ("created_timestamp", 4, MESSAGE, OPT, _TS)]),
    ("Untyped", [("value", 1, DOUBLE, OPT, "")]),
    ("Histogram", [("sample_count", 1, UINT64, OPT, ""), ("sample_count_float", 4, DOUBLE, OPT, ""),
                   ("sample_sum", 2, DOUBLE, OPT, ""), ("bucket", 3, MESSAGE, REP, "Bucket"),
                   ("created_timestamp", 15, MESSAGE, OPT, _TS), ("schema", 5, SINT32, OPT, ""),
                   ("zero_threshold", 6, DOUBLE, OPT, ""), ("zero_count", 7, UINT64, OPT, ""),
                   ("zero_count_float", 8, DOUBLE, OPT, ""), ("negative_span", 9, MESSAGE, REP, "BucketSpan"),
                   ("negative_delta", 10, SINT64, REP, ""), ("negative_count", 11, DOUBLE, REP, ""),
                   ("positive_span", 12, MESSAGE, REP, "BucketSpan"), ("positive_delta", 13, SINT64, REP, ""),
                   ("positive_count", 14, DOUBLE, REP, ""), ("exemplars", 16, MESSAGE, REP, "Exemplar")]),
    ("Bucket", [("cumulative_count", 1, UINT64, OPT, ""), ("cumulative_count_float", 4, DOUBLE, OPT, ""),
                ("upper_bound", 2, DOUBLE, OPT, ""), ("exemplar", 3, MESSAGE, OPT, "Exemplar")]),
    ("BucketSpan", [("offset", 1, SINT32, OPT, ""), ("length", 2, UINT32, OPT, "")]),
    ("Exemplar", [("label", 1, MESSAGE, REP, "LabelPair"), ("value", 2, DOUBLE, OPT, ""),
                  ("timestamp", 3, MESSAGE, OPT, _TS)]),
    ("Metric", [("label", 1, MESSAGE, REP, "LabelPair"), ("gauge", 2, MESSAGE, OPT, "Gauge"),
                ("counter", 3, MESSAGE, OPT, "Counter"), ("summary", 4, MESSAGE, OPT, "Summary"),
                ("untyped", 5, MESSAGE, OPT, "Untyped"), ("histogram", 7, MESSAGE, OPT, "Histogram"),
                ("timestamp_ms", 6, INT64, OPT, "")]),
    ("MetricFamily", [("name", 1, STRING, OPT, ""), ("help", 2, STRING, OPT, ""),
                      ("type", 3, ENUM, OPT, "MetricType"), ("metric", 4, MESSAGE, REP, "Metric"),
                      ("unit", 5, STRING, OPT, "")]),
]


def _build() -> Any:
    fd = descriptor_pb2.FileDescriptorProto(name="pyrometer_tests/metrics.proto", package="io.prometheus.client",
                                            syntax="proto2", dependency=["google/protobuf/timestamp.proto"])
    enum = fd.enum_type.add(name="MetricType")
    for number, name in enumerate(("COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM")):
        enum.value.add(name=name, number=number)
    for name, fields in _MESSAGES:
        msg = fd.message_type.add(name=name)
        for fname, number, typ, label, type_name in fields:
            field = msg.field.add(name=fname, number=number, type=typ, label=label)
            if type_name:
                field.type_name = type_name if type_name.startswith(".") else ".io.prometheus.client." + type_name
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client.MetricFamily"))


MetricFamily = _build()


def decode(data: bytes) -> List[Any]:
    """The MetricFamily messages of a varint-length-delimited stream; fails on trailing garbage."""
    families = []
    pos = 0
    while pos < len(data):
        size = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        assert pos + size <= len(data), "truncated message"
        family = MetricFamily()
        family.ParseFromString(data[pos:pos + size])
        families.append(family)
        pos += size
    return families


def absolute(spans: Any, deltas: Iterable[int]) -> Dict[int, int]:
    """Bucket index -> count from spans and deltas, as Prometheus reads them."""
    out: Dict[int, int] = {}
    index, count = 0, 0
    deltas = list(deltas)
    pos = 0
    for span in spans:
        index += span.offset  # the first offset is absolute, the others are gaps
        for _ in range(span.length):
            count += deltas[pos]
            pos += 1
            if count:
                out[index] = count
            index += 1
    assert pos == len(deltas)
    return out
