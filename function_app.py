"""The Azure Functions app (Python v2 programming model): creates the app, registers the blueprints.

Nothing else happens here: each blueprint's trigger turns its binding into plain values and calls a
handler; dependencies are built lazily from settings on first use (``bootstrap.components``).
"""

import azure.functions as func

from queue_builder.blueprint import bp as queue_builder
from transformation_runner.blueprint import bp as transformation_runner
from watchdog.blueprint import bp as watchdog
from watchdog.desk_blueprint import bp as operations_desk

app = func.FunctionApp()
app.register_functions(queue_builder)
app.register_functions(transformation_runner)
app.register_functions(watchdog)
app.register_functions(operations_desk)
