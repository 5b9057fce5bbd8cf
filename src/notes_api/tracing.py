"""OpenTelemetry traces: a span per request and per SQL statement, when `OTEL_*` asks for them.

Configured by the standard variables alone and off when none is set: then
neither the SDK nor an instrumentation is even imported, and a request pays only
the few microseconds of reading its `traceparent` (the access log's trace id).
On, the SDK reads what the specification says it reads (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_*`, `OTEL_PROPAGATORS`), and `OTEL_TRACES_EXPORTER` picks
`otlp` (the default, OTLP over HTTP/protobuf), `console` or `none` (spans and
trace ids without sending anything).

Spans leave through a batch processor: a request only appends its span to an
in-memory queue, and a background thread sends batches. A collector that is
down or refuses connections costs that thread its retries; when the queue is
full new spans are dropped. No request ever waits for the collector.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

    from notes_api.database import Reader

SERVICE_NAME = "notes-api"
"""`service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` name one."""
TRACEPARENT = b"traceparent"
SANITIZED_HEADERS = ["authorization", "cookie", "set-cookie", "x-api-key"]
"""Never recorded, even if an operator asks to capture request or response headers."""
_HEX = frozenset(b"0123456789abcdef")


class TracingConfigurationError(ValueError):
    """An `OTEL_*` value this service cannot honour (named in the message)."""


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Any `OTEL_*` variable turns tracing on, unless `OTEL_SDK_DISABLED` is true."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(name.startswith("OTEL_") for name in environ)


def build_tracer_provider(environ: Mapping[str, str]) -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME_KEY, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME_KEY: SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER, parent-based
    exporter = _exporter(environ)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporter(environ: Mapping[str, str]) -> Any:
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if names == "none":
        return None
    if names == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if names != "otlp":
        raise TracingConfigurationError(
            f"OTEL_TRACES_EXPORTER={names!r} is not supported: use otlp, console or none"
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol.strip().lower() != "http/protobuf":
        raise TracingConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf "
            "(a collector's port 4318)"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, TLS: OTEL_EXPORTER_OTLP_*


def _without_query(span: Any, scope: Scope) -> None:
    """Query strings stay out of spans as they stay out of the access log."""
    if span is not None and span.is_recording():
        span.set_attribute("http.target", scope.get("path", ""))
        span.set_attribute("http.url", scope.get("path", ""))
        span.set_attribute("url.query", "")


def instrument(app: FastAPI, engine: AsyncEngine, reader: Reader, provider: TracerProvider) -> None:
    """Spans for `app`'s requests, `engine`'s and `reader`'s statements, sent through `provider`.

    Per app and per engine rather than the instrumentors' global patching, so that
    tests can build apps with and without tracing in one process. The SQL spans
    carry the statement with its placeholders, never the bound values.
    """
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_version
    from opentelemetry.metrics import NoOpMeterProvider

    no_metrics = NoOpMeterProvider()  # metrics are Prometheus's job
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=no_metrics,
        server_request_hook=_without_query,
        http_capture_headers_sanitize_fields=SANITIZED_HEADERS,
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    tracer = trace.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", sqlalchemy_version, provider
    )
    usage = no_metrics.get_meter("notes_api").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
    reader.trace_with(tracer)  # the PostgreSQL reads run on psycopg, outside the engine


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """No spans for what runs inside (background polls), even with tracing on."""
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield


def span_ids_from_context() -> tuple[str, str] | None:
    """The current span's trace and span ids as hex, when tracing is on."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def incoming_trace_id(scope: Scope) -> str | None:
    """The trace id of a well-formed W3C `traceparent` header, else None.

    `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case, ids not all
    zeros, version not `ff` (W3C Trace Context, section 3.2). Anything else is
    ignored, as the specification asks, and a new trace starts.
    """
    for name, value in scope["headers"]:
        if name == TRACEPARENT:
            parts = value.strip().split(b"-")
            if (
                len(parts) >= 4
                and [len(part) for part in parts[:4]] == [2, 32, 16, 2]
                and parts[0] != b"ff"
                and (parts[0] != b"00" or len(parts) == 4)
                and all(_HEX.issuperset(part) for part in parts[:4])
                and parts[1].strip(b"0")
                and parts[2].strip(b"0")
            ):
                return str(parts[1].decode("ascii"))
            return None
    return None


def new_trace_id() -> str:
    return random_hex_id(128)


def new_span_id() -> str:
    return random_hex_id(64)


def random_hex_id(bits: int) -> str:
    """A random id of `bits` bits in lower-case hex, never all zeros (W3C Trace Context
    forbids that for trace and span ids).

    For ids that correlate, never for secrets: drawn from `random`, as OpenTelemetry's own
    `RandomIdGenerator` draws them, because `secrets` and `uuid4` read the kernel's
    generator, a system call per id, and every request takes three (its request id, trace
    id and span id). CPython reseeds `random` in a forked worker.
    """
    value = random.getrandbits(bits) or 1  # all zeros comes once in 2**bits draws
    return f"{value:0{bits // 4}x}"


def environment() -> Mapping[str, str]:
    return os.environ
