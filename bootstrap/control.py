"""The composition root of the region's CONTROL app: the same deployment package, run with
``BRIDGE_APP=control``, builds only the consumption route (``watchdog.control_blueprint``) on the
app-setting switch of its region's bridge app. Nothing else is wired here: no IBM MQ, no XML, no data
store; the control app's identity holds Website Contributor on the bridge app and nothing more
(infra/modules/control-roles.bicep; docs/security.md, "Control-plane rights").

Settings (set by infra/main.bicep on the control app only):

=============================  ======================================================================
``BRIDGE_APP``                 ``control`` (the bridge app leaves it unset)
``BRIDGE_REGION``              DC04 or DC06
``AZURE_SUBSCRIPTION_ID``      the subscription of the bridge app
``CONTROL_TARGET_GROUP``       the bridge app's resource group
``CONTROL_TARGET_APP``         the bridge app's name
``CONTROL_CALLER_OBJECT_ID``   the Entra object id of the bridge app's identity (the only caller)
=============================  ======================================================================
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping

import azure.functions as func

from shared.adapters.azure_control import AppSettingConsumptionSwitch
from shared.errors import ConfigurationError
from watchdog.control_blueprint import Control
from watchdog.control_blueprint import make_blueprint as control_blueprint

CONTROL_SETTINGS = (
    "BRIDGE_REGION",
    "AZURE_SUBSCRIPTION_ID",
    "CONTROL_TARGET_GROUP",
    "CONTROL_TARGET_APP",
    "CONTROL_CALLER_OBJECT_ID",
)


def is_control_app(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is a region's control app (``BRIDGE_APP=control``)."""
    return environ.get("BRIDGE_APP", "").strip().lower() == "control"


def control_of(environ: Mapping[str, str]) -> Control:
    """The control app of ``environ``; one ``ConfigurationError`` names every missing setting."""
    missing = [f"{name}: required (control app)" for name in CONTROL_SETTINGS if not environ.get(name)]
    if missing:
        raise ConfigurationError(missing)
    switch = AppSettingConsumptionSwitch(
        environ["AZURE_SUBSCRIPTION_ID"], environ["CONTROL_TARGET_GROUP"], environ["CONTROL_TARGET_APP"]
    )
    return Control(environ["BRIDGE_REGION"], switch, environ["CONTROL_CALLER_OBJECT_ID"])


_lock = threading.Lock()
_control: Control | None = None


def control() -> Control:
    """The process's control app, built from the environment on first use."""
    global _control  # noqa: PLW0603 - one per process, built lazily like bootstrap.components
    with _lock:
        if _control is None:
            _control = control_of(os.environ)
        return _control


def build_control_app(current: Callable[[], Control]) -> func.FunctionApp:
    """The control app: the consumption route only."""
    app = func.FunctionApp()
    app.register_functions(control_blueprint(current))
    return app
