"""Build (and cache) the lab guest: Debian's kernel and a BusyBox initramfs.

The guest is Debian's own kernel (the package the metapackage ``linux-image-amd64`` points at)
booted straight from QEMU with an initramfs that holds BusyBox, dropbear, the few kernel modules
the guest needs and the files in ``tests/lab/guest`` (init, inittab, the emulated Tools agent).

Everything is cached under the cache directory given by the caller (the lab uses
``<repo>/.cache/lab/guest``)::

    debs/<package>_<version>_amd64.deb     the downloaded kernel package (kept for rebuilds)
    images/<key>/vmlinuz                   the kernel as Debian ships it (bzImage, xz inside)
    images/<key>/vmlinux                   the same kernel uncompressed (ELF with a PVH entry)
    images/<key>/initrd.gz                 the initramfs (cpio newc, gzip)
    images/<key>/image.json                what went into it

``<key>`` hashes the kernel package file name (package and version), the files under
``tests/lab/guest``, this builder's source (every module of this package) and the
BusyBox/dropbear binaries, so an image is rebuilt only when one of those changes. The package is
looked up with ``apt-cache depends linux-image-amd64`` (the package lists must exist: ``apt-get
update``); a new kernel ABI means a new package name, hence a download and a rebuild.
Concurrent callers serialise on ``<cache>/.lock``.

By job: build.py (the build and the cache), inputs.py (what goes in, the cache key), kernel.py
(the PVH vmlinux, the kernel modules the guest needs), cpio.py (the initramfs archive writer).
"""

from .build import GuestImage, build_guest_image
from .inputs import GuestImageError

__all__ = ["GuestImage", "GuestImageError", "build_guest_image"]
