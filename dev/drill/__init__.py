"""The failover drill: run both regions on the local stack, break things on a schedule, count.

``python -m dev.drill --scenario default`` (``make demo``) or ``--scenario all`` (``make drill
SCENARIO=all``). Modules: :mod:`~dev.drill.generator` (statements), :mod:`~dev.drill.harness`
(private stack, regions, producer, faults), :mod:`~dev.drill.run` (one run),
:mod:`~dev.drill.scenarios` (fault schedules), :mod:`~dev.drill.counting` (figures from the outbox,
inbox records, quarantine and Cosmos), :mod:`~dev.drill.report` and :mod:`~dev.drill.timeline`.
"""
