"""The README's examples, run as written against a live server on the demo `make run` builds, so that
what a new user copies works and answers what the README shows.

Every `curl` example that talks to the local server runs, in the README's order, with the test
server's port and a real token put in. Under an example, `# ->` lines show its answer, as the README
says under its first example: `# -> 201 Created` a status, `# -> Location: ...` a header, anything
else JSON the answer contains (objects may hold more properties and arrays more items; `...` in a
string stands for any text). A JSON answer may go on over the lines below it that start with `#`
and at least two spaces. Without a status line, the answer must be a success.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.settings import strip_comments
from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, Server, deep_merge, start_server
from tests.processes import stop
from tests.writers.conftest import start_emulator

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
SETTINGS = ROOT / "config" / "appsettings.json"
pytestmark = pytest.mark.e2e
# The scale `make run` builds (`redhorn demo`'s default): the README's values are the full demo's,
# and building it takes a few seconds.
README_SCALE = 1.0
README_ADDRESS = "127.0.0.1:8443"
VBS_SECTION = "Writes through Visma Business Services"
STATUS_LINE = re.compile(r"(\d{3}) ([A-Z][A-Za-z -]+)")
HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]*): (.*)")
# An answer written as a plain comment, which nothing would check.
UNMARKED_ANSWER = re.compile(r"#\s+(\{|\[|\d{3}\b|(Location|ETag|[A-Z][a-z]+(-[A-Z][a-z]+)+): )")


@dataclass
class Example:
    """One curl example, with what the README shows of its answer."""

    command: str
    section: str
    line: int
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    def add_answer(self, text: str, line: int) -> None:
        if status := STATUS_LINE.fullmatch(text):
            code = int(status.group(1))
            assert HTTPStatus(code).phrase == status.group(2), f"README line {line}: {text!r} is not a status line"
            assert self.status is None, f"README line {line}: a second status for one example"
            self.status = code
        elif header := HEADER_LINE.fullmatch(text):
            self.headers.append((header.group(1), header.group(2)))
        else:
            try:
                self.bodies.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise AssertionError(f"README line {line}: the answer shown is not JSON ({exc}): {text}") from exc


def readme_examples(text: str | None = None) -> list[Example]:
    """Every curl example of the README that talks to the local server, in order, with its answers."""
    examples: list[Example] = []
    section = ""
    lines = (README.read_text() if text is None else text).splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if line.startswith("## "):
            section = line.removeprefix("## ").strip()
        if line.strip().startswith("```sh"):
            number = _read_block(lines, number, section, examples)
            continue
        if line.strip().startswith("```"):  # another kind of block: skip it whole
            while number < len(lines) and not lines[number].strip().startswith("```"):
                number += 1
            number += 1
            continue
        for inline in re.findall(r"`(curl [^`]*)`", line):
            if README_ADDRESS in inline:
                examples.append(Example(inline, section, number))
    return examples


def _read_block(lines: list[str], number: int, section: str, examples: list[Example]) -> int:
    """The sh block starting at `number` read into `examples`; returns the line after it."""
    example: Example | None = None
    answer: list[str] = []
    answer_line = 0

    def close_answer() -> None:
        if answer:
            assert example is not None, f"README line {answer_line}: an answer under no curl example"
            example.add_answer(" ".join(answer), answer_line)
            answer.clear()

    while number < len(lines) and not lines[number].strip().startswith("```"):
        start = number + 1
        line = lines[number].strip()
        number += 1
        while line.endswith("\\") and number < len(lines):
            line = line[:-1].rstrip() + " " + lines[number].strip()
            number += 1
        if line.startswith("# ->"):
            close_answer()
            answer.append(line.removeprefix("# ->").strip())
            answer_line = start
        elif answer and re.match(r"#\s{2,}\S", line):
            answer.append(line[1:].strip())
        else:
            close_answer()
            if line.startswith("#"):
                assert not (example and UNMARKED_ANSWER.match(line)), (
                    f"README line {start}: an answer must be a `# ->` line to be checked: {line}"
                )
            elif line:
                command = line.split(" #")[0].strip()
                example = None
                if command.startswith("curl ") and README_ADDRESS in command:
                    example = Example(command, section, start)
                    examples.append(example)
    close_answer()
    return number + 1


def test_the_readme_has_curl_examples_with_answers():
    examples = readme_examples()
    assert len(examples) >= 15
    assert sum(1 for example in examples if example.bodies) >= 10
    assert any("--data-urlencode" in example.command for example in examples)
    assert any(" -d " in example.command for example in examples), "the writes run too"
    assert any("-X PATCH" in example.command for example in examples)
    assert any(example.status == 400 for example in examples), "an error, and its body"


def test_answer_lines_are_read_as_the_readme_says():
    text = """## Somewhere
```sh
curl -k -G https://127.0.0.1:8443/api/9999/orders \\
     --data-urlencode '$filter=Name eq 'x'' # a remark
# -> 201 Created
# -> Location: https://127.0.0.1:8443/x/...
# -> {"value": [1,
#               2]}
# (a remark)
redhorn serve
```
"""
    [example] = readme_examples(text)
    assert example.command == "curl -k -G https://127.0.0.1:8443/api/9999/orders --data-urlencode '$filter=Name eq 'x''"
    assert example.section == "Somewhere" and example.line == 3
    assert example.status == 201 and example.headers == [("Location", "https://127.0.0.1:8443/x/...")]
    assert example.bodies == [{"value": [1, 2]}]
    with pytest.raises(AssertionError, match="must be a `# ->` line"):
        readme_examples('```sh\ncurl https://127.0.0.1:8443/api\n# {"value": []}\n```\n')
    with pytest.raises(AssertionError, match="under no curl example"):
        readme_examples("```sh\nredhorn serve\n# -> 200 OK\n```\n")


def text_matches(actual: str, shown: str) -> bool:
    """`shown`, in which `...` stands for any text, matches all of `actual`."""
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def contains(actual: Any, shown: Any) -> bool:
    """`actual` holds `shown`: objects with at least its properties, arrays starting with its items."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(key in actual and contains(actual[key], shown[key]) for key in shown)
    if isinstance(shown, list):
        return (
            isinstance(actual, list)
            and len(actual) >= len(shown)
            and all(contains(item, expected) for item, expected in zip(actual, shown, strict=False))
        )
    if isinstance(shown, str):
        return isinstance(actual, str) and text_matches(actual, shown)
    if isinstance(shown, bool) or shown is None:
        return actual is shown
    return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == shown


def test_shown_answers_match_as_the_readme_says():
    assert contains({"a": 1, "b": [1, 2, 3], "c": "eyJhbGci"}, {"b": [1, 2], "c": "eyJ..."})
    assert contains(200000, 200000) and not contains(200001, 200000)
    assert not contains({"a": [1]}, {"a": [1, 2]}) and not contains({"a": True}, {"a": 1})
    assert text_matches("Name, AddressLine1, PostCode filled in from customer 11100", "Name, ... from customer 11100")
    assert not text_matches("from customer 10100", "... from customer 11100")


def demo_settings(**sections: Any) -> dict[str, Any]:
    """The settings `make run` serves with (config/appsettings.json), unlicensed: `make run` makes
    the demo licence, which changes no answer."""
    document = json.loads(strip_comments(SETTINGS.read_text(encoding="utf-8")))
    document["ApiLicence"]["LicenceFilePath"] = ""
    return deep_merge(document, sections)


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own on the full demo, as `make run` serves it: the examples write."""
    folder = tmp_path_factory.mktemp("readme")
    build_demo(folder / "data", scale=README_SCALE)
    try:
        with start_server(folder, demo_settings()) as server:
            yield server
    finally:
        shutil.rmtree(folder / "data", ignore_errors=True)  # 170 MB


def run_example(example: Example, server: Server, token: str, scratch: Path) -> str:
    """Runs `example` as written against `server` and checks the answer it shows; returns a token it got."""
    address = server.base_url.removeprefix("https://")
    command = example.command.replace(README_ADDRESS, address).replace("eyJ...", token)
    headers_file, body_file = scratch / "headers", scratch / "body"
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"{command} --silent --show-error --dump-header {headers_file} --output {body_file} "
            "--write-out '%{http_code}'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    where = f"README line {example.line}: {command}"
    assert result.returncode == 0, (where, result.stdout, result.stderr)
    status = int(result.stdout)
    body_text = body_file.read_text(encoding="utf-8")
    if example.status is None:
        assert 200 <= status < 300, (where, status, body_text)
    else:
        assert status == example.status, (where, status, body_text)
    headers: dict[str, str] = {}
    for line in headers_file.read_text(encoding="latin-1").splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    for name, shown in example.headers:
        assert name.lower() in headers, (where, name, headers)
        assert text_matches(headers[name.lower()], shown.replace(README_ADDRESS, address)), (where, name, headers)
    answer = json.loads(body_text) if example.bodies else None
    for shown in example.bodies:
        shown = json.loads(json.dumps(shown).replace(README_ADDRESS, address))
        assert contains(answer, shown), (where, shown, answer)
    if example.command.endswith("/api/oauth/token"):
        return str(json.loads(body_text)["access_token"])
    return token


def test_every_readme_example_works_and_answers_as_shown(readme_server: Server, tmp_path: Path):
    token = ""
    ran = 0
    for example in readme_examples():
        token = run_example(example, readme_server, token, tmp_path)
        ran += 1
    assert token, "the token example ran before the bearer example"
    assert ran == len(readme_examples())


def test_every_filter_of_the_query_options_table_is_an_example():
    """The `$filter` examples of the table name values that exist: each one runs as an example."""
    row = next(line for line in README.read_text().splitlines() if line.startswith("| `$filter` |"))
    filters = re.findall(r"`([^`]+)`", row.split("|")[2])
    assert len(filters) >= 5
    commands = [example.command for example in readme_examples()]
    for condition in filters:
        assert any(f"$filter={condition}" in command for command in commands), condition


def test_swagger_fills_in_the_company_users_mean_with_the_right_articles(readme_server: Server):
    with readme_server.client(auth=None) as client:
        public = client.get("/swagger/v1/swagger.json").json()
    reference = public["paths"]["/api/{companyNo}/orders"]["get"]["parameters"][0]["$ref"]
    company = public["components"]["parameters"][reference.rsplit("/", 1)[1]]
    assert company["name"] == "companyNo" and company["schema"]["example"] == 9999, "the demo user's first company"
    assert "have access to" in company["description"]
    with readme_server.client() as client:
        own = client.get("/swagger/v1/swagger.json").json()
    assert "company 9999;" in own["info"]["description"], "the demo user's first company, as the settings list it"
    summaries = {
        operation["summary"]
        for document in (public, own)
        for path in document["paths"].values()
        for operation in path.values()
    }
    for summary in (
        "Create an Order, or an array of them (all or none)",
        "Create an OrderLine, or an array of them (all or none)",
        "Create an Associate, or an array of them (all or none)",
        "Delete an Order and its lines",
        "Change the properties given of an Associate, in body order",
        "Create a Product, or an array of them (all or none)",
        "Create a Unit, or an array of them (all or none)",
    ):
        assert summary in summaries
    wrong = [s for s in summaries if re.search(r"\ba [AEIOaeio]|\ban [^AEIOUaeiou]", s)]
    assert not wrong, wrong


def test_the_vbs_emulator_paragraph(tmp_path_factory: pytest.TempPathFactory):
    """What "Writes through Visma Business Services" says: the emulator with the same settings, the
    address it prints as `VbsEndpointAddress`, the server restarted, and the section's writes answer."""
    text = README.read_text()
    assert ".venv/bin/redhorn vbs-emulator --port 2001" in text
    assert '"VbsEndpointAddress": "http://127.0.0.1:2001/"' in text
    folder = tmp_path_factory.mktemp("readme-vbs")
    build_demo(folder / "data", scale=TEST_SCALE)
    document = demo_settings()
    process, emulator_address, log = start_emulator(folder, document)
    try:
        port = httpx.URL(emulator_address).port
        printed = re.search(r"redhorn vbs-emulator answers (http://\S+)", log.read_text())
        assert printed, log.read_text()
        address = printed.group(1)
        assert address == f"http://127.0.0.1:{port}/", "what the README says it prints, on this port"
        examples = [example for example in readme_examples() if example.section == VBS_SECTION]
        assert examples and all(" -d " in example.command for example in examples)
        served = deep_merge(document, {"VismaConnection": {"VbsEndpointAddress": address}})
        with start_server(folder, served) as server:
            for example in examples:
                run_example(example, server, "", folder)
        writes = log.read_text().count('"POST / HTTP/1.1" 200')
        assert writes == len(examples), ("every write went through the emulator", log.read_text())
        # The emulator checks the integration user against its own settings: another password is refused.
        wrong = deep_merge(served, {"VismaConnection": {"VbsIntegrationUserPassword": "another"}})
        with start_server(folder, wrong) as server, server.client() as client:
            response = client.post("/api/9999/associates", json={"Name": "Havbris AS"})
        assert response.status_code == 502 and response.json()["error"]["code"] == "VbsFailed", response.text
    finally:
        stop(process)
