"""The Azure Functions app (Python v2 programming model): creates the app, registers the blueprints.

Nothing else happens here: each blueprint's trigger turns its binding into plain values and calls a
handler; dependencies are built lazily from settings on first use (``shared.composition``).
"""

import azure.functions as func

app = func.FunctionApp()
