"""Documents on disk, content-addressed under the data directory."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def store_file(data_dir: Path, content: bytes) -> tuple[str, str]:
    """Write a document under `<data_dir>/attachments/`, named by its SHA-256.

    Written before the transaction that records it: if that fails, an unreferenced file may
    remain, which is harmless (same content, same name) and never half-written (it is
    written under a temporary name and renamed). Returns the digest and the relative path.
    """
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("attachments") / digest[:2] / digest
    path = data_dir / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.replace(partial, path)
    return digest, relative.as_posix()
