"""A hypothesis state machine drives creates, updates and deletes through a live server over TLS and
checks every read-back against a plain Python model of the rows."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import Server, start_server
from tests.writers.conftest import WriteSetup

pytestmark = pytest.mark.e2e

ROUTES = range(10_000, 10_030)
PREFIX = "sm "
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20).map(
    lambda text: PREFIX + text
)
capacities = st.decimals(min_value=0, max_value=99_999, places=2, allow_nan=False, allow_infinity=False)
weekdays = st.sampled_from(["", "Mon", "Tue,Thu", "Mon,Wed,Fri"])


@pytest.fixture(scope="module")
def live(write_setup: WriteSetup) -> Iterator[Server]:
    with start_server(write_setup.folder / f"machine-{write_setup.writer}", write_setup.document) as server:
        yield server


class WriteMachine(RuleBasedStateMachine):
    client: httpx.Client

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[int, dict[str, Any]] = {}
        self.associates: dict[int, str] = {}
        self.highest_associate = 0

    @initialize()
    def start_from_nothing(self) -> None:
        """Rows of earlier examples are deleted (through the API), so each example starts from an empty model."""
        listed = self.client.get("/api/9999/acme_delroute", params={"$filter": f"RouteNo ge {ROUTES.start}"})
        for row in listed.json()["value"]:
            assert self.client.delete(f"/api/9999/acme_delroute/{row['RouteNo']}").status_code == 204
        people = self.client.get("/api/9999/associates", params={"$filter": f"startswith(Name, '{PREFIX}')"})
        for row in people.json()["value"]:
            assert self.client.delete(f"/api/9999/associates/{row['AssociateNo']}").status_code == 204
        top = self.client.get("/api/9999/associates", params={"$orderby": "AssociateNo desc", "$top": "1"})
        self.highest_associate = top.json()["value"][0]["AssociateNo"]

    @rule(number=st.sampled_from(ROUTES), name=names, capacity=capacities, days=weekdays)
    def create_route(self, number: int, name: str, capacity: Decimal, days: str) -> None:
        body = {"RouteNo": number, "Nm": name, "CapacityKg": float(capacity), "WeekDays": days}
        response = self.client.post("/api/9999/acme_delroute", json=body)
        if number in self.routes:
            assert response.status_code == 409 and response.json()["error"]["code"] == "DuplicateKey"
            return
        assert response.status_code == 201, response.text
        self.routes[number] = {"Nm": name, "CapacityKg": capacity, "WeekDays": days, "DriverEmpNo": 0}
        assert _route_model(response.json()["value"]) == self.routes[number]

    @precondition(lambda self: self.routes)
    @rule(data=st.data(), capacity=capacities, driver=st.integers(0, 2**31 - 1))
    def change_route(self, data: st.DataObject, capacity: Decimal, driver: int) -> None:
        number = data.draw(st.sampled_from(sorted(self.routes)))
        body = {"CapacityKg": float(capacity), "DriverEmpNo": driver}
        response = self.client.patch(f"/api/9999/acme_delroute/{number}", json=body)
        assert response.status_code == 200, response.text
        self.routes[number] |= {"CapacityKg": capacity, "DriverEmpNo": driver}
        assert _route_model(response.json()["value"]) == self.routes[number]

    @precondition(lambda self: self.routes)
    @rule(data=st.data())
    def delete_route(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.routes)))
        assert self.client.delete(f"/api/9999/acme_delroute/{number}").status_code == 204
        del self.routes[number]
        assert self.client.get(f"/api/9999/acme_delroute/{number}").status_code == 404

    @rule(name=names)
    def create_associate(self, name: str) -> None:
        response = self.client.post("/api/9999/associates", json={"Name": name})
        assert response.status_code == 201, response.text
        row = response.json()["value"]
        assert row["AssociateNo"] > self.highest_associate, "numbers only go up, even past deleted rows"
        self.highest_associate = row["AssociateNo"]
        self.associates[row["AssociateNo"]] = name
        assert row["Name"] == name and row["CustomerNo"] == 0

    @precondition(lambda self: self.associates)
    @rule(data=st.data(), name=names)
    def rename_associate(self, data: st.DataObject, name: str) -> None:
        number = data.draw(st.sampled_from(sorted(self.associates)))
        tag = self.client.get(f"/api/9999/associates/{number}").headers["etag"]
        response = self.client.put(f"/api/9999/associates/{number}", json={"Name": name}, headers={"If-Match": tag})
        assert response.status_code == 200, response.text
        self.associates[number] = name
        stale = self.client.patch(f"/api/9999/associates/{number}", json={"Name": "x"}, headers={"If-Match": tag})
        assert stale.status_code == (200 if response.headers["etag"] == tag else 412)
        if stale.status_code == 200:
            self.client.patch(f"/api/9999/associates/{number}", json={"Name": name})

    @precondition(lambda self: self.associates)
    @rule(data=st.data())
    def delete_associate(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(sorted(self.associates)))
        assert self.client.delete(f"/api/9999/associates/{number}").status_code == 204
        del self.associates[number]

    @invariant()
    def the_server_holds_what_the_model_holds(self) -> None:
        listed = self.client.get("/api/9999/acme_delroute", params={"$filter": f"RouteNo ge {ROUTES.start}"})
        assert {row["RouteNo"]: _route_model(row) for row in listed.json()["value"]} == self.routes
        people = self.client.get("/api/9999/associates", params={"$filter": f"startswith(Name, '{PREFIX}')"})
        assert {row["AssociateNo"]: row["Name"] for row in people.json()["value"]} == self.associates


def _route_model(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "Nm": row["Nm"],
        "CapacityKg": Decimal(str(row["CapacityKg"])).quantize(Decimal("0.01")),
        "WeekDays": row["WeekDays"],
        "DriverEmpNo": row["DriverEmpNo"],
    }


def test_writes_match_a_model_of_the_tables(live: Server):
    from hypothesis.stateful import run_state_machine_as_test

    with live.client() as client:
        WriteMachine.client = client
        options = settings(
            max_examples=20, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
        )
        run_state_machine_as_test(WriteMachine, settings=options)
