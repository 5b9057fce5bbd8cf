"""A fake OpenTelemetry collector speaking OTLP/HTTP on a free loopback port: it keeps every
span the app exports, so a test sees what an operator's collector would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.servers import free_port


class Collector(ThreadingHTTPServer):
    """Receives OTLP/HTTP protobuf exports and keeps every span."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), CollectorHandler)
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class CollectorHandler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            self.server.resources.append(
                {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            )
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend(scope_spans.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running_collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
