"""The Azure Functions app (Python v2 programming model), indexed by the host from ``app``.

Nothing else happens here: :func:`bootstrap.build_app` registers one blueprint per function package;
each trigger turns its binding into plain values and calls a handler of :func:`bootstrap.components`,
built lazily from settings on the first trigger.
"""

from bootstrap import build_app, components

app = build_app(components)
