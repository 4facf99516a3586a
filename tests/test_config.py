from pathlib import Path

import pytest

from pusher.config import find_config_path, load_config, parse_config, redacted
from pusher.errors import ConfigError
from pusher.reading import Granularity


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "pusher.toml"
    path.write_text(text)
    return load_config(path, env or {})


def problem(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return str(info.value)


def test_defaults_and_sources(tmp_path):
    config = load(tmp_path, """
[influx]
org = "acme"
token = "${INFLUX_TOKEN}"
[sources.p]
type = "prometheus"
url = "http://x"
granularity = "daily"
queries = []
""", {"INFLUX_TOKEN": "s3cr3t"})
    assert config.influx.api == "v2" and config.influx.batch_size == 5000
    assert config.influx.token == "s3cr3t"
    assert config.sources["p"].granularity is Granularity.DAILY
    assert dict(config.sources["p"].options) == {"url": "http://x", "queries": []}
    assert config.state_dir == tmp_path / ".pusher"
    assert "s3cr3t" not in repr(config)
    assert config.redact("token is s3cr3t") == "token is ***"


def test_variable_default_and_dollar_escape(tmp_path):
    config = load(tmp_path, '[influx]\nurl = "${URL:-http://h:1}"\norg = "a$$b"\n')
    assert config.influx.url == "http://h:1"
    assert config.influx.org == "a$b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[influx]\ntoken = "${NOPE}"', "pusher.toml: influx.token: environment variable "
                                        "${NOPE} is not set"),
        ("[influx]\nbatch_size = 0", "influx.batch_size: must be at least 1"),
        ('[influx]\nbatch_size = "5"', "influx.batch_size: must be an integer"),
        ('[influx]\napi = "v3"', 'influx.api: must be "v1" or "v2"'),
        ("[influx]\nbatchsize = 1", "influx.batchsize: unknown key (did you mean 'batch_size'?)"),
        ('[influx]\nurl = "localhost:8086"', "influx.url: must start with http://"),
        ('[influx]\nprecision = "h"', "influx.precision: must be one of s, ms, us, ns"),
        ("[sources.x]\nurl = 1", "sources.x.type: is required"),
        ('[sources.x]\ntype = "python"\ngranularity = "weekly"', "sources.x.granularity: "
                                                                 "unknown granularity 'weekly'"),
        ('[pusher]\ntimezone = "Mars/Olympus"', "pusher.timezone: unknown timezone"),
        ("[influx\n", "not valid TOML"),
        ('[sourcez.x]\ntype = "python"', "sourcez: unknown key (did you mean 'sources'?)"),
    ],
)
def test_problems_name_file_key_and_problem(tmp_path, text, expected):
    assert expected in problem(tmp_path, text)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml", {})


def test_config_path_precedence(tmp_path):
    assert str(find_config_path("a.toml", {"PUSHER_CONFIG": "b.toml"})) == "a.toml"
    assert str(find_config_path(None, {"PUSHER_CONFIG": "b.toml"})) == "b.toml"
    assert str(find_config_path(None, {})) == "pusher.toml"


def test_redacted_hides_secret_keys_url_passwords_and_secret_variables():
    env = {"DB_PASSWORD": "pa55", "API_SECRET": "zzz", "PLAIN": "visible"}
    config = parse_config({
        "influx": {"password": "${DB_PASSWORD}", "username": "bob"},
        "sources": {"db": {"type": "sql", "url": "postgresql://r:${DB_PASSWORD}@h/db",
                           "header": "Bearer ${API_SECRET}", "note": "${PLAIN}"}},
    }, env)
    shown = redacted(dict(config.raw), redact=config.redact)
    text = repr(shown)
    assert "pa55" not in text and "zzz" not in text
    assert shown["influx"]["password"] == "***"
    assert shown["influx"]["username"] == "bob"
    assert shown["sources"]["db"]["url"] == "postgresql://r:***@h/db"
    assert shown["sources"]["db"]["header"] == "Bearer ***"
    assert shown["sources"]["db"]["note"] == "visible"


def test_url_passwords_are_secrets_even_without_variables():
    config = parse_config({"sources": {"db": {"type": "sql",
                                              "url": "postgresql://r:literal@h/db"}}}, {})
    assert config.redact("failed: postgresql://r:literal@h/db") == "failed: postgresql://r:***@h/db"


def test_a_secret_that_is_a_plain_word_is_masked_only_in_its_positions():
    config = parse_config({"influx": {"token": "t", "api": "v1", "database": "pusher",
                                      "password": "pusher"},
                           "sources": {"ga": {"type": "google-analytics",
                                              "credentials": "default"}}}, {})
    # The words stay readable where they are not secrets...
    assert config.redact("token t, then text") == "token t, then text"
    assert config.redact("database 'pusher' not found") == "database 'pusher' not found"
    assert config.redact("Your default credentials were not found") == \
        "Your default credentials were not found"
    # ...and are masked where they stand in a secret position.
    assert config.redact("dsn password=pusher user=u") == "dsn password=*** user=u"
    assert config.redact("http://u:pusher@h/x?token=t") == "http://u:***@h/x?token=***"
    shown = redacted(dict(config.raw), redact=config.redact)
    assert shown["sources"]["ga"]["credentials"] == "***"
    assert shown["influx"]["database"] == "pusher"
