# ruff: noqa: N999 - named as IBM's module
"""The subset of IBM MQ's CMQXC constants (MQCD) the adapters use; values from PyPI ``ibmmq`` 2.1.2
``ibmmq/CMQXC.py``, checked against the installed package by ``tests/fakes/test_fake_ibmmq.py``."""

MQCHT_CLNTCONN = 6
MQXPT_TCP = 2
