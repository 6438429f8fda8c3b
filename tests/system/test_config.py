"""berth config: the compose loader seen from the command line (docs/compose.md)."""
import json
import os

import pytest

from conftest import run_berth

COMPOSE = """\
services:
  web:
    image: example/web:${TAG:-latest}
    command: node server.js --port ${PORT}
    cap_add: [NET_ADMIN]
    environment:
      - NODE_ENV=production
      - SESSION_SECRET
    ports:
      - "8080:3000"
    depends_on:
      redis:
        condition: service_healthy
  redis:
    image: redis:7
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 2s
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project directory holding compose.yml, as the working directory,
    with no compose variables leaking in from the test's environment."""
    for var in ("TAG", "SESSION_SECRET", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE"):
        monkeypatch.delenv(var, raising=False)
    d = tmp_path / "shop"
    d.mkdir()
    (d / "compose.yml").write_text(COMPOSE)
    monkeypatch.chdir(d)
    return d


def test_prints_the_normalized_stack_as_yaml(project):
    r = run_berth("config", "-f", "compose.yml")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("name: shop\n")
    assert "services:\n  redis:\n" in out
    assert "    image: example/web:latest\n" in out
    # the runtime variable is left for the runner
    assert "      - ${PORT}\n" in out
    assert "        published: 8080\n" in out
    assert "      replicas: 1\n" in out


def test_json_is_the_stored_form(project):
    r = run_berth("config", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["name"] == "shop"
    assert j["project_dir"] == str(project)
    assert j["files"] == [str(project / "compose.yml")]
    web = j["services"]["web"]
    assert web["command"] == ["node", "server.js", "--port", "${PORT}"]
    assert web["environment"] == ["NODE_ENV=production"]
    assert web["ports"] == [{"target": 3000, "published": 8080, "protocol": "tcp", "mode": "ingress"}]
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert j["services"]["redis"]["healthcheck"]["interval"] == "2s"
    assert list(j["services"]) == ["redis", "web"]


def test_unsupported_key_is_a_warning_naming_it(project):
    r = run_berth("config", "-q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "compose.yml:5:5: services.web.cap_add: not supported by berth, ignored" in r.stderr


def test_strict_makes_unsupported_keys_errors(project):
    r = run_berth("config", "--strict")
    assert r.returncode == 1
    assert r.stdout == ""
    assert "compose.yml:5:5: services.web.cap_add: not supported by berth (--strict)" in r.stderr


def test_invalid_file_says_where_and_exits_1(project):
    (project / "bad.yml").write_text("services:\n  web:\n    image: x\n    ports:\n      - \"80:abc\"\n")
    r = run_berth("config", "-f", "bad.yml")
    assert r.returncode == 1
    assert r.stdout == ""
    assert ('bad.yml:5:9: services.web.ports[0]: expected "[HOST:]CONTAINER[/PROTO]" (e.g. "8080:3000"), '
            'got "80:abc"') in r.stderr


def test_missing_required_variable(project):
    (project / "req.yml").write_text("services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n")
    r = run_berth("config", "-f", "req.yml")
    assert r.returncode == 1
    assert "req.yml:3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE first" in r.stderr


def test_default_files_override_and_dotenv(tmp_path, monkeypatch):
    monkeypatch.delenv("TAG", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    d = tmp_path / "My-Shop.v2"
    d.mkdir()
    (d / "compose.yaml").write_text("services:\n  web:\n    image: example/web:${TAG}\n    ports: [\"3000\"]\n")
    (d / "compose.override.yaml").write_text("services:\n  web:\n    environment: {DEBUG: \"1\"}\n")
    (d / ".env").write_text("# from the project directory\nTAG=1.2.3\n")
    monkeypatch.chdir(d)
    r = run_berth("config", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    # the directory's name, lowercased, without the characters a project name cannot hold
    assert j["name"] == "my-shopv2"
    assert j["files"] == [str(d / "compose.yaml"), str(d / "compose.override.yaml")]
    assert j["services"]["web"]["image"] == "example/web:1.2.3"
    assert j["services"]["web"]["environment"] == ["DEBUG=1"]
    # the process environment wins over .env
    monkeypatch.setenv("TAG", "from-shell")
    r = run_berth("config", "--json")
    assert json.loads(r.stdout)["services"]["web"]["image"] == "example/web:from-shell"


def test_project_directory_flag(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_berth("config", "--project-directory", "shop", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "shop"


def test_no_compose_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run_berth("config")
    assert r.returncode == 1
    assert "no compose file here" in r.stderr


def test_project_name_flag_and_env(project, monkeypatch):
    r = run_berth("config", "-p", "demo", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "demo"
    r = run_berth("config", "-p", "Not Valid")
    assert r.returncode == 1
    assert 'invalid project name "Not Valid"' in r.stderr
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "fromenv")
    r = run_berth("config", "--json")
    assert json.loads(r.stdout)["name"] == "fromenv"


def test_services_profiles_and_merge(project):
    (project / "more.yml").write_text(
        "services:\n"
        "  web:\n"
        "    image: example/web:2\n"
        "  debug:\n"
        "    image: example/debug\n"
        "    profiles: [dev]\n")
    r = run_berth("config", "-f", "compose.yml", "-f", "more.yml", "--services")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "redis\nweb\n"
    r = run_berth("config", "-f", "compose.yml", "-f", "more.yml", "--profile", "dev", "--services")
    assert r.stdout == "debug\nredis\nweb\n"
    r = run_berth("config", "-f", "compose.yml", "-f", "more.yml", "--json")
    assert json.loads(r.stdout)["services"]["web"]["image"] == "example/web:2"


def test_help_and_usage_errors(project):
    r = run_berth("config", "--help")
    assert r.returncode == 0
    assert "usage: berth config" in r.stdout
    r = run_berth("help", "config")
    assert r.returncode == 0 and "usage: berth config" in r.stdout
    r = run_berth("config", "--nope")
    assert r.returncode == 2
    r = run_berth("config", "extra")
    assert r.returncode == 2
