""":class:`~shared.ports.CheckpointStore` on the gate's document store (``put_json``/``get_json``).

Interim: the agreed home of the replay checkpoints is the Cosmos ``control`` container (issue 14,
``CosmosCheckpointStore`` of the region authority work); until that adapter is wired, the checkpoints
stay where the replay checkpoint has always been, beside the gate. Losing them costs a longer walk
(from an older watermark), never a message: a walk's position only moves past entries it published
or found final.
"""

from __future__ import annotations

from datetime import datetime

from shared.model import Checkpoint
from shared.ports import ActiveRegionGate, CheckpointStore


class GateDocumentCheckpoints(CheckpointStore):
    """Each checkpoint is the JSON document ``checkpoint:<key>`` of ``gate``."""

    def __init__(self, gate: ActiveRegionGate) -> None:
        self.gate = gate

    def get(self, key: str) -> Checkpoint | None:
        doc = self.gate.get_json(f"checkpoint:{key}")
        if not doc:
            return None
        return Checkpoint(
            key=key,
            position=str(doc.get("position", "")),
            at=datetime.fromisoformat(str(doc["at"])),
            final_through=str(doc.get("final_through", "")),
            blocked=bool(doc.get("blocked")),
            done=bool(doc.get("done")),
        )

    def put(self, checkpoint: Checkpoint) -> None:
        self.gate.put_json(
            f"checkpoint:{checkpoint.key}",
            {
                "position": checkpoint.position,
                "at": checkpoint.at.isoformat(),
                "final_through": checkpoint.final_through,
                "blocked": checkpoint.blocked,
                "done": checkpoint.done,
            },
        )
