"""MessageWay delivery targets: :class:`MqDeliveryTarget` in production, :class:`FolderDeliveryTarget`
locally and in drills, chosen by ``MESSAGEWAY_MODE`` (:func:`make_delivery_target`)."""

from __future__ import annotations

from collections.abc import Mapping

from shared.adapters.ibmmq_source import ibmmq_config
from shared.adapters.messageway_folder import FolderDeliveryTarget, read_log
from shared.adapters.messageway_mq import MqDeliveryTarget
from shared.ports import DeliveryTarget
from shared.settings import Settings

__all__ = ["FolderDeliveryTarget", "MqDeliveryTarget", "make_delivery_target", "read_log"]


def make_delivery_target(settings: Settings, env: Mapping[str, str] | None = None) -> DeliveryTarget:
    """The target for ``settings.messageway_mode``; the MQ one uses the ``MQ_*`` connection settings
    (see :func:`shared.adapters.ibmmq_source.ibmmq_config`) and connects on first delivery."""
    if settings.messageway_mode == "folder":
        return FolderDeliveryTarget(settings.messageway_outbox_dir, settings.region)
    return MqDeliveryTarget(ibmmq_config(settings, env), settings.messageway_queue)
