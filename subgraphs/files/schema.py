"""Files' root fields (internal only: courses calls them) and the schema itself."""

from __future__ import annotations

import strawberry

from coursegraph.federation import build_schema, internal_field
from coursegraph.graphql_types import UploadTicket
from subgraphs.files.internal import (
    InternalFile,
    confirm_upload,
    create_upload,
    delete_file,
    internal_file,
)
from subgraphs.files.objects import File


@strawberry.type
class Query:
    internal_file: InternalFile | None = internal_field(
        internal_file, services=["courses"], description="A file by id, or null."
    )


@strawberry.type
class Mutation:
    create_upload: UploadTicket = internal_field(
        create_upload,
        services=["courses"],
        description="A file record and a signed URL the client uploads it to.",
    )
    confirm_upload: InternalFile = internal_field(
        confirm_upload,
        services=["courses"],
        description="Check the stored object against the announcement; start processing.",
    )
    delete_file: bool = internal_field(
        delete_file, services=["courses"], description="Remove a file and its stored data."
    )


schema = build_schema(query=Query, mutation=Mutation, types=[File])
