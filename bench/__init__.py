"""Throughput and latency benchmark of the platform (``python -m bench`` / ``make bench``).

Not part of the test suite: it measures, it asserts nothing. Everything runs on 127.0.0.1
against a nats-server and stores it starts itself in a temporary directory.
"""
