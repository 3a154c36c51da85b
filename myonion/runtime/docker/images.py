"""Images on the Docker engine: build (streamed), import, tag, save, load, list and remove."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import IO, Any

import docker.errors

from myonion.errors import BuildFailed, NoSuchObject, RuntimeFailure
from myonion.runtime.docker.engine import DISK_FULL_HINT, DockerEngine, is_disk_full, unreachable

BUILD_TAIL = 30
#: a failed build leaves nothing: its intermediate containers are removed (forcerm)
BUILD_DISK_FULL_HINT = DISK_FULL_HINT + " The half-built image was removed."


def _build_error(tag: str, error: object, tail: list[str]) -> BuildFailed:
    """The error of a build whose log said ``error``."""
    full = is_disk_full(*tail)
    return BuildFailed(
        f"Building image {tag} failed: {str(error).strip()}"
        + (" (the disk is full)" if full else ""),
        hint=BUILD_DISK_FULL_HINT if full else (
            "Read the build log above; fix the template or the network to the "
            "Debian mirror, then try again."),
        detail="\n".join(tail[-BUILD_TAIL:]),
    )


class ImagesMixin(DockerEngine):
    """The image half of the Runtime protocol."""

    def image_exists(self, tag: str) -> bool:
        try:
            self._call("look up an image", lambda: self.client.images.get(tag))
            return True
        except NoSuchObject:
            return False

    def build(
        self, context: IO[bytes], tag: str, labels: dict[str, str], on_line: Callable[[str], None],
        nocache: bool = False,
    ) -> None:
        # The low-level API streams the log; images.build() would block until the end.
        tail: list[str] = []
        try:
            stream = self.client.api.build(
                fileobj=context, custom_context=True, tag=tag, labels=labels, rm=True,
                forcerm=True, decode=True, pull=False, nocache=nocache,
            )
            for chunk in stream:
                if "error" in chunk:
                    tail.append(str(chunk["error"]).rstrip())
                    raise _build_error(tag, chunk["error"], tail)
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in str(text).splitlines():
                    if line.strip():
                        tail.append(line)
                        del tail[:-BUILD_TAIL]
                        on_line(line)
        except docker.errors.APIError as e:
            raise BuildFailed(
                f"Building image {tag} failed: {e.explanation or e}.",
                hint=BUILD_DISK_FULL_HINT if is_disk_full(e, *tail) else None,
                detail="\n".join(tail[-BUILD_TAIL:]),
            ) from e
        except (docker.errors.DockerException, OSError) as e:
            raise unreachable(e) from e
        if not self.image_exists(tag):
            raise BuildFailed(f"Building image {tag} ended without an image.",
                              detail="\n".join(tail))

    def import_image(self, tar_path: str, tag: str) -> None:
        repository, _, version = tag.partition(":")

        def run() -> None:
            with open(tar_path, "rb") as f:
                self.client.api.import_image_from_data(
                    f, repository=repository, tag=version or None
                )

        self._call("import the base image", run)

    def remove_image(self, tag: str) -> None:
        with contextlib.suppress(NoSuchObject):
            self._call("remove an image", lambda: self.client.images.remove(tag, force=True))

    def list_images(self, repository_prefix: str) -> list[str]:
        images = self._call("list images", lambda: self.client.images.list())
        return sorted(tag for image in images for tag in image.tags
                      if tag.startswith(repository_prefix))

    def save_images(self, tags: list[str], path: str) -> None:
        api = self.client.api

        def run() -> None:
            # GET /images/get takes several names (layers shared by them are written once);
            # docker-py's get_image() takes one
            response = api._get(api._url("/images/get"), params={"names": tags}, stream=True)
            api._raise_for_status(response)
            with open(path, "wb") as f:
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    f.write(chunk)

        self._call("save images", run)

    def load_images(self, archive: Iterable[bytes]) -> list[str]:
        def run() -> list[str]:
            loaded: list[str] = []
            # an iterable body is sent chunked: the archive is never held in memory whole.
            # No empty chunk: requests before 2.29 (Debian bookworm's, a Pi's python3-requests)
            # sends it as the chunked body's end, and the engine hangs up on the rest
            for chunk in self.client.api.load_image(c for c in archive if c):
                if "error" in chunk:
                    raise RuntimeFailure(f"Docker refused to load images: {chunk['error']}",
                                         hint=DISK_FULL_HINT if is_disk_full(chunk) else None)
                # one message may report several images, a line each
                for line in str(chunk.get("stream", "")).splitlines():
                    for prefix in ("Loaded image: ", "Loaded image ID: "):
                        if line.startswith(prefix):
                            loaded.append(line.removeprefix(prefix).strip())
            return loaded

        return self._call("load images", run)

    def image_id(self, tag: str) -> str | None:
        try:
            image = self._call("look up an image", lambda: self.client.images.get(tag))
        except NoSuchObject:
            return None
        return str(image.id)

    def tag_image(self, image_id: str, tag: str) -> None:
        repository, _, version = tag.rpartition(":")
        done = self._call("tag an image", lambda: self.client.api.tag(
            image_id, repository, version, force=True))
        if not done:
            raise RuntimeFailure(f"Docker refused to tag {image_id} as {tag}.")

    def image_size(self, tag: str) -> int:
        image: Any = self._call("look up an image", lambda: self.client.images.get(tag))
        return int(image.attrs.get("Size", 0))

    def image_platform(self, tag: str) -> tuple[str, str | None]:
        image: Any = self._call("look up an image", lambda: self.client.images.get(tag))
        return str(image.attrs.get("Architecture", "")), image.attrs.get("Variant") or None
