"""Samples for tests/boundary/test_tiers.py, run only when named on the command line (the file name
does not match ``test_*.py``): tests that start a server with and without the integration marker."""

import socket

import pytest


def _listen() -> None:
    with socket.create_server(("127.0.0.1", 0)):
        pass


def test_listens_without_the_marker() -> None:
    _listen()


@pytest.mark.integration
def test_listens_with_the_marker() -> None:
    _listen()


def test_starts_nothing() -> None:
    assert True
