from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from subgraphs.files.models import StoredFile
from subgraphs.files.service import FileService


@dataclass
class FilesLoaders:
    files: DataLoader[str, StoredFile | None]


def make_loaders(files: FileService) -> FilesLoaders:
    async def load_files(ids: Sequence[str]) -> list[StoredFile | None]:
        return await files.get_many(ids)

    return FilesLoaders(files=DataLoader(load_fn=load_files))
