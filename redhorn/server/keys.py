"""The installation's signing key: one for every worker, kept across restarts.

Access tokens and `$skiptoken`s are signed with one key (each use derives its own from it). Every
worker that may take a client's next request must hold the same key, or a token issued by one is
refused by another. `Tokens.SigningKey` names it; without it the first worker to start writes a
random key to `redhorn-signing.key` beside the settings file, created whole or not at all
(written to a private temporary file, then linked into place, which fails if another worker won
the race) and readable by its owner alone on POSIX (on Windows the folder's ACL decides), and every
worker after reads it. The key so survives restarts, as tokens and nextLinks handed out do.

Several hosts (`Cluster.RedisUrl`) must share the key too; they share the settings file's content
anyway, so there the key must be in `Tokens.SigningKey`, and a host without one refuses to start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from redhorn.errors import SettingsError
from redhorn.settings import Settings

logger = logging.getLogger("redhorn")

KEY_FILE = "redhorn-signing.key"
_KEY_BYTES = 32
# How long a worker waits for a key file another worker is writing at the same moment.
_WAIT_SECONDS = 2.0


def check_cluster_key(settings: Settings) -> None:
    """Several hosts need one signing key, and only the settings can give it to all of them.

    Raises:
        SettingsError: `Cluster.RedisUrl` is set and `Tokens.SigningKey` is empty.
    """
    if settings.cluster.redis_url and not settings.tokens.signing_key:
        raise SettingsError(
            "Cluster.RedisUrl is set but Tokens.SigningKey is empty: every host must sign tokens and "
            "$skiptokens with the same key; set Tokens.SigningKey to one long random value on every host"
        )


def installation_key(
    settings: Settings, settings_file: Path | None, environ: Mapping[str, str], env_name: str
) -> bytes:
    """`Tokens.SigningKey`; else the key file beside `settings_file`; else `environ[env_name]`; else a random one.

    The environment's key is the one `redhorn serve` makes for its workers, used when the key file
    cannot be written (a read-only settings folder); a random key serves a single process only.

    Raises:
        SettingsError: see `check_cluster_key`.
    """
    check_cluster_key(settings)
    if settings.tokens.signing_key:
        return settings.tokens.signing_key.encode("utf-8")
    if settings_file is not None:
        path = settings_file.parent / KEY_FILE
        try:
            key = read_or_create_key(path)
        except OSError as exc:
            logger.warning(
                "Tokens.SigningKey is empty and the key file %s cannot be used (%s)", path, exc.strerror or exc
            )
        else:
            logger.info("Tokens.SigningKey is empty: this server's workers share a key kept in %s", path)
            return key
    shared = environ.get(env_name, "")
    if shared:
        logger.warning(
            "Tokens.SigningKey is empty: this server's workers share a key made at its start. Access tokens "
            "and $skiptokens do not survive a restart; set Tokens.SigningKey for that."
        )
        return bytes.fromhex(shared)
    logger.warning(
        "Tokens.SigningKey is empty: a random key was made for this process. Access tokens and "
        "$skiptokens it issues are not accepted by other workers or after a restart; "
        "set a shared key when running several workers."
    )
    return secrets.token_bytes(_KEY_BYTES)


def read_or_create_key(path: Path) -> bytes:
    """The key in `path`, made first if there is none; several processes may call this at once.

    Raises:
        OSError: the file cannot be read or made, or holds no key.
    """
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        key = _read(path)
        if key is not None:
            return key
        if not path.exists():
            _create(path, secrets.token_bytes(_KEY_BYTES).hex())
            continue  # read back whichever key won the race
        if time.monotonic() > deadline:
            raise OSError(f"{path} holds no signing key; delete it to have a new one made")
        time.sleep(0.05)


def _read(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise OSError(f"{path} holds no signing key; delete it to have a new one made") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        return None
    return key if len(key) >= _KEY_BYTES else None


def _create(path: Path, text: str) -> None:
    """Put `text` at `path` whole, unless a file is there already: then leave that one."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600 on POSIX
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            if sys.platform == "win32":
                os.rename(temporary, path)  # on Windows a rename never replaces a file that exists
            else:
                os.link(temporary, path)  # nor does a hard link on POSIX
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
