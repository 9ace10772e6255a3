"""The authenticated API user a request runs as, and what that user may reach."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.authentication import BaseUser

from redhorn.settings import ApiUser, NumberSerieInterval, Settings


@dataclass(frozen=True)
class Principal(BaseUser):
    """An API user from `ApiUsers`, after authentication; Starlette's `request.user`.

    Built once per user at startup. `context_user` is the Visma user that writes run as: the user's
    `VbsContextUser`, else `VismaConnection.DefaultVbsContextUser`.
    """

    username: str
    context_user: str
    companies: frozenset[int]
    system_database: bool
    catalog_database: bool
    allow_basic: bool
    number_series: dict[int, tuple[NumberSerieInterval, ...]] = field(default_factory=dict, compare=False)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    def can_see_company(self, company_no: int) -> bool:
        return company_no in self.companies


def principal_of(user: ApiUser, settings: Settings) -> Principal:
    """The principal for one `ApiUsers` entry."""
    return Principal(
        username=user.username,
        context_user=user.vbs_context_user or settings.visma_connection.default_vbs_context_user,
        companies=frozenset(company.company_no for company in user.accessible_companies),
        system_database=user.allow_access_to_sys_db,
        catalog_database=user.allow_access_to_catalog_db,
        allow_basic=user.allow_basic_authentication,
        number_series={company.company_no: company.number_serie_intervals for company in user.accessible_companies},
    )
