"""What a site and the server say to each other about pretrained models, over NVFlare's aux channel and streams.

1. The site asks ``TOPIC_MANIFEST`` with ``{KEY_NAME}``; the server answers ``{KEY_STATUS, KEY_MANIFEST}``
   (status ``ok``), or status ``missing`` / ``error`` with ``KEY_MESSAGE``.
2. The site asks ``TOPIC_SEND`` with ``{KEY_TX, KEY_NAME, KEY_DIGEST, KEY_FILES}`` (the paths it lacks);
   the server answers at once and streams those files to it (NVFlare's object streaming, channel
   ``STREAM_CHANNEL``, topic ``STREAM_TOPIC``), one message per piece of a file, each acknowledged
   before the next goes: ``{KEY_PATH, KEY_DATA}``, then ``{KEY_PATH, KEY_END: True}`` after each file
   and ``KEY_LAST: True`` on the final message. The stream's context carries ``KEY_TX`` and ``KEY_DIGEST``.
"""

from __future__ import annotations

TOPIC_MANIFEST = "fdd.pretrained.manifest"
TOPIC_SEND = "fdd.pretrained.send"
STREAM_CHANNEL = "fdd.pretrained"
STREAM_TOPIC = "files"

KEY_NAME = "fdd_pretrained_name"
KEY_STATUS = "fdd_pretrained_status"
KEY_MESSAGE = "fdd_pretrained_message"
KEY_MANIFEST = "fdd_pretrained_manifest"
KEY_TX = "fdd_pretrained_tx"
KEY_DIGEST = "fdd_pretrained_digest"
KEY_FILES = "fdd_pretrained_files"
KEY_PATH = "fdd_pretrained_path"
KEY_DATA = "fdd_pretrained_data"
KEY_END = "fdd_pretrained_end"
KEY_LAST = "fdd_pretrained_last"

STATUS_OK = "ok"
STATUS_MISSING = "missing"
STATUS_ERROR = "error"

DEFAULT_PIECE_BYTES = 1 << 20
"""Bytes of a file in one stream message, each acknowledged before the next is sent (NVFlare's own stream chunk
size: larger pieces were no faster and made the site hold more memory)."""
