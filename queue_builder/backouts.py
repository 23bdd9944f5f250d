"""How the QueueBuilder tells a poison message from a healthy one that was backed out for other reasons.

MQ counts every backout on the message (``BackoutCount``, IBM MQ MQMD), whatever caused it. Three
causes are not the message's fault, and none may park a healthy statement on the backout queue:

* a dependency failed (Blob, Service Bus, Redis, Cosmos: a ``TransientError``): this process notes
  that backout and subtracts it (:meth:`Backouts.note_transient`); the note is bounded (``memory``
  messages, the oldest forgotten first: a message the other region takes is never seen here again);
* the app restarted, or the process died, with a unit of work open: every message of that unit counts
  one backout, and the notes of the dead process are gone;
* another message of the same unit killed the process (the poison one).

So reaching ``threshold`` does not park a message: at the head of a unit it is taken ALONE, and only a
message that keeps failing alone — ``isolated_tries`` more backouts — is PARKED (backout queue and
quarantine store). The healthy messages of a unit that a restart or a poison message backed out pass
alone and are committed. A restart counts against a message only if it hits that message while it is
alone in its unit ``isolated_tries`` times. A suspect met after the head of a unit is taken with the
unit: the messages ahead of it reach the threshold with it and pass alone first, and it comes to the
head in turn.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from shared.model import MqMessage


class Verdict(enum.Enum):
    """What to do with a message just got: take it with its unit, alone, or park it."""

    TAKE = "take"
    ALONE = "alone"
    PARK = "park"


@dataclass
class Backouts:
    """The QueueBuilder's judgement of backout counts (see the module docstring); one per process."""

    threshold: int
    isolated_tries: int = 2
    memory: int = 10_000
    _transient: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.isolated_tries < 0 or self.memory < 1:
            raise ValueError(
                "threshold and memory must be positive, isolated_tries not negative: "
                f"{self.threshold}, {self.memory}, {self.isolated_tries}"
            )

    def __len__(self) -> int:
        """How many messages' transient backouts are remembered."""
        return len(self._transient)

    def verdict(self, message: MqMessage, first_in_unit: bool) -> Verdict:
        """``message``'s fate: its backouts, less the transient ones noted here, against the threshold."""
        over = self.suspect_count(message) - self.threshold
        if over < 0 or not first_in_unit:
            return Verdict.TAKE
        return Verdict.PARK if over >= self.isolated_tries else Verdict.ALONE

    def suspect_count(self, message: MqMessage) -> int:
        """MQ's BackoutCount less the backouts this process made because a dependency failed."""
        return message.backout_count - self._transient.get(message.message_id, 0)

    def reason(self, message: MqMessage) -> str:
        """Why a parked message was parked (the backout queue's ``BridgeReason``)."""
        return (
            f"backout count {message.backout_count} reached threshold {self.threshold}"
            f" and {self.isolated_tries} more while alone in its unit of work"
        )

    def note_transient(self, message_id: str) -> None:
        """``message_id`` was backed out because a dependency failed (not its fault)."""
        self._transient[message_id] = self._transient.get(message_id, 0) + 1
        self._transient.move_to_end(message_id)
        while len(self._transient) > self.memory:
            self._transient.popitem(last=False)

    def forget(self, message_id: str) -> None:
        """``message_id`` was committed: nothing to remember."""
        self._transient.pop(message_id, None)
