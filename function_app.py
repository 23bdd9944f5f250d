"""The Azure Functions app (Python v2 programming model), indexed by the host from ``app``.

Nothing else happens here: :func:`bootstrap.build_app` registers one blueprint per function package;
each trigger turns its binding into plain values and calls a handler of :func:`bootstrap.components`,
built lazily from settings on the first trigger. The same package runs as the region's control app
(``BRIDGE_APP=control``): then only the runner's consumption switch is served
(:func:`bootstrap.build_control_app`, docs/security.md "Control-plane rights").
"""

from bootstrap import build_app, build_control_app, components, control, is_control_app

app = build_control_app(control) if is_control_app() else build_app(components)
