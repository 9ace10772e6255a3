"""From the path's `{companyNo}` and `{resource}` to a database and a table, for one principal.

Access is decided here, on every path, before anything is read: `AccessibleCompanies` for company
databases, `AllowAccessToSysDb` for `vbsys`, `AllowAccessToCatalogDb` for `Catalog`. A company the
user may not reach is 403 whether or not it exists, so company numbers cannot be probed; only a
user who lists a company learns that it does not exist (404).
"""

from __future__ import annotations

from redhorn.auth.principal import Principal
from redhorn.errors import (
    CompanyAccessDenied,
    CompanyNotFound,
    DatabaseAccessDenied,
    DatabaseUnavailable,
    ResourceNotFound,
)
from redhorn.metadata import Database, Metadata, Table


def resolve_database(metadata: Metadata, segment: str, principal: Principal) -> Database:
    """The database a path names: a company number, `vbsys` or `catalog` (any letter case).

    Raises:
        DatabaseAccessDenied: `vbsys` or `catalog` for a user not allowed it.
        CompanyAccessDenied: a company number the user does not list.
        CompanyNotFound: not a company number or a database name; or a listed company that does not exist.
        DatabaseUnavailable: the company exists but its database could not be crawled.
    """
    lowered = segment.lower()
    if lowered == metadata.system_database.lower():
        if not principal.system_database:
            raise DatabaseAccessDenied(f"User {principal.username!r} may not read {metadata.system_database!r}")
        name = metadata.system_database
    elif lowered == metadata.catalog_database.lower():
        if not principal.catalog_database:
            raise DatabaseAccessDenied(f"User {principal.username!r} may not read {metadata.catalog_database!r}")
        name = metadata.catalog_database
    elif segment.isascii() and segment.isdigit() and len(segment) <= 9:
        number = int(segment)
        if not principal.can_see_company(number):
            raise CompanyAccessDenied(
                f"User {principal.username!r} may not access company {segment!r}", target="companyNo"
            )
        company = metadata.companies.get(number)
        if company is None:
            if metadata.system_database not in metadata.databases:
                raise DatabaseUnavailable(f"The system database {metadata.system_database!r} is not available")
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
