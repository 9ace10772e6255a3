"""From the path's `{companyNo}` and `{resource}` to a database and a table of the metadata cache."""

from __future__ import annotations

from redhorn.errors import CompanyNotFound, DatabaseUnavailable, ResourceNotFound
from redhorn.metadata import Database, Metadata, Table


def resolve_database(metadata: Metadata, segment: str) -> Database:
    """The database a path names: a company number, `vbsys` or `catalog` (any letter case).

    Raises:
        CompanyNotFound: no such company or database.
        DatabaseUnavailable: the company exists but its database could not be crawled.
    """
    lowered = segment.lower()
    if lowered == metadata.system_database.lower():
        name = metadata.system_database
    elif lowered == metadata.catalog_database.lower():
        name = metadata.catalog_database
    elif segment.isascii() and segment.isdigit() and len(segment) <= 9:
        company = metadata.companies.get(int(segment))
        if company is None:
            raise CompanyNotFound(f"Company {segment!r} does not exist", target="companyNo")
        name = company.database
    else:
        raise CompanyNotFound(f"{segment!r} is neither a company number nor 'vbsys' or 'catalog'", target="companyNo")
    database = metadata.databases.get(name)
    if database is None:
        raise DatabaseUnavailable(f"Database {name!r} is not available")
    return database


def resolve_table(database: Database, resource: str) -> Table:
    """The table exposed as `resource` (case-insensitive).

    Raises:
        ResourceNotFound: the database has no such resource.
    """
    table = database.table(resource)
    if table is None:
        raise ResourceNotFound(f"Resource {resource!r} does not exist in {database.name!r}", target="resource")
    return table
