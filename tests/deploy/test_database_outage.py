"""The database going away: requests answer 503 with Retry-After (never a 500, nothing half
written), and the service recovers by itself once the database is back.

The first tests make every query of one request fail, on either backend. The last one cuts real
TCP connections to PostgreSQL through a proxy the test controls, as a restart or a fail-over
would, and restores them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, close_old_connections, connection
from django.http import HttpRequest, HttpResponse

from config.health import DatabaseUnavailableMiddleware
from curation.models import Example
from tests.conftest import Team
from tests.curation.ui_support import logged_in

ClientFor = Callable[..., Any]


def database_away(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.django_db
def test_an_api_request_while_the_database_is_away_gets_503_naming_it(
    team: Team, client_for: ClientFor
) -> None:
    client = client_for(team.lead)
    with connection.execute_wrapper(database_away):
        response = client.post(
            f"/api/projects/{team.project.pk}/examples/",
            {"input": "Hi", "output": "card_arrival"},
            format="json",
        )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["errors"][0]
    assert error["code"] == "database_unavailable" and "nothing was changed" in error["message"]
    # Back: the same request succeeds, and the refused one wrote nothing
    assert not Example.objects.filter(project=team.project).exists()
    response = client.get(f"/api/projects/{team.project.pk}/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_page_while_the_database_is_away_gets_a_503_page(team: Team) -> None:
    client = logged_in(team.annotator)
    with connection.execute_wrapper(database_away):
        response = client.get(f"/projects/{team.project.pk}/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert b"briefly unavailable" in response.content
    assert client.get(f"/projects/{team.project.pk}/").status_code == 200


def test_other_errors_are_not_dressed_as_an_outage() -> None:
    middleware = DatabaseUnavailableMiddleware(HttpResponse)
    assert middleware.process_exception(HttpRequest(), ValueError("a bug")) is None


@pytest.mark.parametrize(
    "message",
    ["Expression tree is too large (maximum depth 1000)", "too many SQL variables", "no such table: x"],
)
def test_a_statement_sqlite_cannot_run_is_not_an_outage(message: str) -> None:
    # A fault in the request: a 500 to fix, not a 503 that a script retries for ever
    middleware = DatabaseUnavailableMiddleware(HttpResponse)
    assert middleware.process_exception(HttpRequest(), OperationalError(message)) is None
    assert middleware.process_exception(HttpRequest(), OperationalError("database is locked")) is not None


class Proxy:
    """A TCP proxy to PostgreSQL that can cut every connection and refuse new ones, then come back
    on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every open connection (clients see the server go away)."""
        assert self._listener is not None
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._listener.close()
        with self._lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def through_proxy() -> Iterator[Proxy]:
    """The default connection, reconnected through a proxy to the real PostgreSQL server."""
    if connection.vendor != "postgresql":
        pytest.skip("a TCP outage needs PostgreSQL (SQLite is a local file)")
    settings_dict = connection.settings_dict
    original = (settings_dict["HOST"], settings_dict["PORT"])
    proxy = Proxy((original[0] or "127.0.0.1", int(original[1] or 5432)))
    proxy.start()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(proxy.port)
    yield proxy
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = original


def request(client: Any, path: str) -> Any:
    """One request, then what the WSGI handler does at its end (the test client skips it): drop a
    connection that broke."""
    response = client.get(path)
    close_old_connections()
    return response


@pytest.mark.django_db(transaction=True)
def test_postgresql_going_away_gives_503_and_the_service_recovers(
    team: Team, client_for: ClientFor, through_proxy: Proxy
) -> None:
    client, browser = client_for(team.lead), logged_in(team.annotator)
    path = f"/api/projects/{team.project.pk}/examples/"
    assert request(client, path).status_code == 200
    assert connection.settings_dict["PORT"] == str(through_proxy.port), connection.settings_dict
    assert through_proxy.sockets, "no connection went through the proxy"

    # When the database goes away (its connections cut, new ones refused)
    through_proxy.stop()
    response = request(client, path)
    # Then the request gets 503, and so does a page
    assert response.status_code == 503, response.content
    assert response.json()["errors"][0]["code"] == "database_unavailable"
    assert request(browser, f"/projects/{team.project.pk}/").status_code == 503

    # When it comes back, then the next request reconnects and succeeds
    through_proxy.start()
    assert request(client, path).status_code == 200
    assert request(browser, f"/projects/{team.project.pk}/").status_code == 200
