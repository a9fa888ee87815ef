"""Download checkpoints once into a cache folder, verify the hash in their file name, publish atomically.

The cache is ``$SEGLAB_HOME/checkpoints`` when ``SEGLAB_HOME`` is set, else
``${XDG_CACHE_HOME:-~/.cache}/seglab/checkpoints``. A file name ending in ``-<8 to 64 hex>.<ext>``
(``resnet50_v1c-2cccc1ad.pth``, the OpenMMLab / torch.hub convention) names the start of the file's
sha256; the bytes are checked against it before the file appears in the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import os.path as osp
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["DownloadError", "checkpoint_cache_dir", "download_checkpoint", "hash_prefix", "url_to_path"]

_log = logging.getLogger("seglab")
_HASH_SUFFIX = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z]+$")
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A checkpoint could not be downloaded, or its bytes do not match the hash in its name."""


def checkpoint_cache_dir() -> str:
    """The folder downloaded checkpoints are kept in (see the module docstring for the override)."""
    home = os.environ.get("SEGLAB_HOME")
    if not home:
        home = osp.join(os.environ.get("XDG_CACHE_HOME") or osp.join("~", ".cache"), "seglab")
    return osp.join(osp.expanduser(home), "checkpoints")


def hash_prefix(name: str) -> str | None:
    """The sha256 prefix a file name promises (``x-2cccc1ad.pth`` -> ``'2cccc1ad'``), or None."""
    match = _HASH_SUFFIX.search(name)
    return match.group(1) if match else None


def url_to_path(url: str) -> str:
    """A ``file://`` URL as a local path (``file:///data/w.pth`` -> ``/data/w.pth``)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(f"{url}: only local file:// URLs are supported (file:///abs/path.pth)")
    return urllib.request.url2pathname(parsed.path)


def download_checkpoint(url: str, cache_dir: str | None = None, timeout: float = 60.0, check_hash: bool = True) -> str:
    """Return the cached copy of the http(s) ``url``, downloading it on first use.

    The download goes to a temp file in the cache folder and is renamed into place only once complete
    and hash-checked (unless ``check_hash=False``), so an interrupted or concurrent download never leaves
    a partial file under the final name. Raises DownloadError naming the URL on any HTTP/network error
    or hash mismatch.
    """
    name = osp.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise DownloadError(f"{url}: the URL names no file to download")
    folder = osp.expanduser(cache_dir or checkpoint_cache_dir())
    dst = osp.join(folder, name)
    if osp.isfile(dst):
        return dst
    os.makedirs(folder, exist_ok=True)
    expected = hash_prefix(name) if check_hash else None
    _log.info("downloading %s to %s", url, dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    try:
        sha256, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "seglab"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        sha256.update(chunk)
                        size += len(chunk)
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(f"cannot download {url}: {reason}") from exc
        actual = sha256.hexdigest()
        if expected is not None and not actual.startswith(expected):
            raise DownloadError(
                f"hash mismatch for {url}: its name promises a sha256 starting with {expected}, the downloaded "
                f"{size} bytes have sha256 {actual}. The download is corrupt or the file changed upstream; "
                "retry, or fetch the file yourself and give its local path"
            )
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise
    _log.info("downloaded %s (%.1f MB, sha256 %s)", dst, size / 1e6, actual[:16])
    return dst
