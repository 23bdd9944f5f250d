"""Test doubles for what no package registry ships (IBM MQ's client and queue manager).

``tests/fakes/ibmmq`` is a fake of PyPI ``ibmmq`` 2.1.2: put ``tests/fakes`` first on ``sys.path``
(the ``fake_ibmmq`` fixture in ``tests/contracts/test_mq_contract.py`` does, and removes it after) and
``import ibmmq`` finds it. ``tests/fakes/test_fake_ibmmq.py`` checks it against the installed package.
"""
