"""The failover drill: run both regions on the local stack, break things on a schedule, count.

``python -m local.drill --scenario default`` (``make demo``) or ``--scenario all`` (``make drill
SCENARIO=all``). Modules: :mod:`~local.drill.generator` (statements), :mod:`~local.drill.harness`
(private stack, regions, producer, faults), :mod:`~local.drill.run` (one run),
:mod:`~local.drill.scenarios` (fault schedules), :mod:`~local.drill.counting` (figures from the outbox,
inbox records, quarantine and Cosmos), :mod:`~local.drill.report` and :mod:`~local.drill.timeline`.
"""
