"""The embedded default's file broker, with each message written whole before a worker can see it.

kombu's filesystem transport creates a message's file under its final name, then writes it: a
worker that lists the folder in between moves the empty file away, fails to decode it and the
message is lost (its job stays queued for good). The more often workers look
(FINCH_BROKER_POLL_MS), the likelier that is. Here a message is written under a name that no
queue matches, then renamed into place: a rename within one folder is atomic, so a worker finds
either no file or the whole message. Settings choose this transport (CELERY_BROKER_TRANSPORT) for
`filesystem://`, in web processes and workers alike.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


def message_name(queue: str) -> str:
    """kombu's own name for a message file: the time first, so a sorted listing is in order, and
    the queue after the first dot, which is how a worker picks out its queue's messages."""
    return f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"


class Channel(filesystem.Channel):
    # kombu's filesystem Channel's own signature, which its base class does not share.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put the message on `queue`: written under a partial name, then renamed into place."""
        folder = self.data_folder_out
        # A leading dot: the part after the first dot is "<hex>.partial", which no queue is named.
        partial = os.path.join(folder, f".{uuid.uuid4().hex}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(folder, message_name(queue)))
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add a message to {folder!r}") from exc


class Transport(filesystem.Transport):
    Channel = Channel
