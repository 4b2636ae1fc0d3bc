"""The ``sql`` backend in parts: one mixin per aggregate over the shared engine and sessions (``base``).

``nvflare_fdd.platform.storage.SqlStorage`` combines them with the pretrained-model store
(``platform.pretrained_store``); callers import it from there.
"""
