"""From the path's `{companyNo}` and `{resource}` to a database and a table, for one principal.

Access is decided here, on every path, before anything is read: `AccessibleCompanies` for company
databases, `AllowAccessToSysDb` for `vbsys`, `AllowAccessToCatalogDb` for `Catalog`. A company the
user may not reach is 403 whether or not it exists, so company numbers cannot be probed; only a
user who lists a company learns that it does not exist (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from redhorn.auth.principal import Principal
from redhorn.catalog.cache import MetadataCache
from redhorn.errors import (
    CompanyAccessDenied,
    CompanyNotFound,
    DatabaseAccessDenied,
    DatabaseUnavailable,
    LicenceInvalid,
    ResourceNotFound,
)
from redhorn.licensing.keeper import LicenceKeeper
from redhorn.metadata import Database, Metadata, Table


@dataclass(frozen=True, slots=True)
class Target:
    """What one request is about, resolved once: who asks, which database and table, which company."""

    principal: Principal
    database: Database
    table: Table | None
    company_no: int | None

    def require_table(self) -> Table:
        assert self.table is not None, "resolved without a resource"
        return self.table


def company_number(segment: str) -> int | None:
    """The company number a path's `{companyNo}` names, or None for `vbsys`, `catalog` or anything else."""
    return int(segment) if segment.isascii() and segment.isdigit() and len(segment) <= 9 else None


def resolve_target(
    cache: MetadataCache, licence: LicenceKeeper, principal: Principal, segment: str, resource: str | None
) -> Target:
    """The database (access and licence checked) and, when `resource` is given, the table a request names.

    A database found missing is looked for again in the background.

    Raises:
        LicenceInvalid: no valid licence (after a look at whether the file was just replaced).
        CompanyNotLicensed: the licence does not name the company.
        and whatever `resolve_database` and `resolve_table` raise.
    """
    company_no = company_number(segment)
    try:
        database = resolve_database(cache.current, segment, principal, company_no=company_no)
    except DatabaseUnavailable:
        cache.schedule_recrawl()
        raise
    try:
        licence.state.require(company_no)
    except LicenceInvalid:
        licence.reload_if_changed().require(company_no)
    table = resolve_table(database, resource) if resource is not None else None
    return Target(principal, database, table, company_no)


_UNPARSED = -1


def resolve_database(
    metadata: Metadata, segment: str, principal: Principal, *, company_no: int | None = _UNPARSED
) -> Database:
    """The database a path names: a company number, `vbsys` or `catalog` (any letter case).

    Raises:
        DatabaseAccessDenied: `vbsys` or `catalog` for a user not allowed it.
        CompanyAccessDenied: a company number the user does not list.
        CompanyNotFound: not a company number or a database name; or a listed company that does not exist.
        DatabaseUnavailable: the company exists but its database could not be crawled.
    """
    number = company_number(segment) if company_no == _UNPARSED else company_no
    lowered = segment.lower()
    if lowered == metadata.system_database.lower():
        if not principal.system_database:
            raise DatabaseAccessDenied(f"User {principal.username!r} may not read {metadata.system_database!r}")
        name = metadata.system_database
    elif lowered == metadata.catalog_database.lower():
        if not principal.catalog_database:
            raise DatabaseAccessDenied(f"User {principal.username!r} may not read {metadata.catalog_database!r}")
        name = metadata.catalog_database
    elif number is not None:
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
