from __future__ import annotations

from ipaddress import ip_network

import pytest

from middleware.config.checks import ANY_NETWORK, Networks
from middleware.config.settings import (
    ConfigError,
    SentrySettings,
    load_sentry_config,
    redact_dsn,
)
from middleware.startup.lifespan import init_sentry
from tests.support import CapturingTransport

SECRET_DSN = "https://publickey1234@o1.ingest.example.com/77"
LEGACY_DSN = "https://publickey1234:secretkey5678@o1.ingest.example.com/77"


def test_defaults_are_development_and_disabled() -> None:
    config = load_sentry_config()
    assert config.settings.environment == "development"
    assert config.settings.release is None
    assert config.settings.sample_rate == 1.0
    assert config.settings.traces_sample_rate == 0.0
    assert config.settings.profiles_sample_rate == 0.0
    assert config.settings.send_default_pii is False
    assert config.settings.shutdown_timeout == 2.0
    assert config.mode == "disabled"
    assert config.production is False
    assert config.warnings() == []


def test_valid_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", SECRET_DSN)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("SENTRY_RELEASE", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("SENTRY_SAMPLE_RATE", "0.5")
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.25")
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", "yes")
    monkeypatch.setenv("SENTRY_SHUTDOWN_TIMEOUT", "5")
    config = load_sentry_config()
    s = config.settings
    assert config.mode == "enabled"
    assert s.dsn_value == SECRET_DSN
    assert (s.environment, s.release) == ("staging", "0123456789abcdef0123456789abcdef01234567")
    assert (s.sample_rate, s.traces_sample_rate, s.shutdown_timeout) == (0.5, 0.25, 5.0)
    assert s.send_default_pii is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("no", False)],
)
def test_send_default_pii_booleans(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("SENTRY_SEND_DEFAULT_PII", raw)
    assert load_sentry_config().settings.send_default_pii is expected


INVALID = [
    ("SENTRY_DSN", "not a dsn"),
    ("SENTRY_DSN", "ftp://publickey1234@example.com/1"),
    ("SENTRY_DSN", "https://example.com/1"),
    ("SENTRY_DSN", "https://publickey1234@example.com/project"),
    ("SENTRY_ENVIRONMENT", "x" * 65),
    ("SENTRY_ENVIRONMENT", "prod/eu"),
    ("SENTRY_ENVIRONMENT", "prod\neu"),
    ("SENTRY_ENVIRONMENT", "prod\reu"),
    ("SENTRY_ENVIRONMENT", "None"),
    ("SENTRY_RELEASE", "."),
    ("SENTRY_RELEASE", ".."),
    ("SENTRY_RELEASE", " "),
    ("SENTRY_RELEASE", "latest"),
    ("SENTRY_RELEASE", "a/b"),
    ("SENTRY_RELEASE", "a\\b"),
    ("SENTRY_RELEASE", "a\nb"),
    ("SENTRY_RELEASE", "a\tb"),
    ("SENTRY_RELEASE", "r" * 201),
    ("SENTRY_SAMPLE_RATE", "1.5"),
    ("SENTRY_SAMPLE_RATE", "-0.1"),
    ("SENTRY_SAMPLE_RATE", "half"),
    ("SENTRY_TRACES_SAMPLE_RATE", "nan"),
    ("SENTRY_PROFILES_SAMPLE_RATE", "2"),
    ("SENTRY_SEND_DEFAULT_PII", "maybe"),
    ("SENTRY_SHUTDOWN_TIMEOUT", "0"),
    ("SENTRY_SHUTDOWN_TIMEOUT", "-3"),
    ("SENTRY_SHUTDOWN_TIMEOUT", "inf"),
    ("SENTRY_SPOTLIGHT", "sometimes"),
    ("SENTRY_IN_APP_INCLUDE", "booty, ../etc"),
    ("SENTRY_IN_APP_INCLUDE", " , "),
    ("SENTRY_ENVIRONMENT", "  "),
    ("SENTRY_WORKER_MONITOR", "Nightly Sync"),
    ("SENTRY_WORKER_MONITOR", "-sync"),
    ("SENTRY_WORKER_MONITOR", "w" * 51),
]


@pytest.mark.parametrize(("name", "raw"), INVALID)
def test_invalid_value_outside_production_warns_and_falls_back(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    config = load_sentry_config()
    assert [p.variable for p in config.problems] == [name]
    warnings = config.warnings()
    assert len(warnings) == 1 and name in warnings[0]
    field = name.removeprefix("SENTRY_").lower()
    assert getattr(config.settings, field) == SentrySettings.model_fields[field].get_default()
    if name == "SENTRY_DSN":
        assert config.mode == "disabled"


@pytest.mark.parametrize(("name", "raw"), INVALID)
def test_invalid_value_in_production_refuses_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    if name != "SENTRY_DSN":
        monkeypatch.setenv("SENTRY_DSN", SECRET_DSN)
    monkeypatch.setenv(name, raw)
    if name == "SENTRY_ENVIRONMENT":
        # The environment itself is the bad value; "production" is what it was meant to be.
        monkeypatch.setenv("SENTRY_ENVIRONMENT", raw)
        config = load_sentry_config()
        assert config.production is False
        assert [p.variable for p in config.problems] == [name]
        return
    with pytest.raises(ConfigError) as info:
        load_sentry_config()
    assert [p.variable for p in info.value.problems] == [name]
    assert name in str(info.value)


@pytest.mark.parametrize(
    "environment", ["production", "Production", " PRODUCTION ", "production\n"]
)
def test_production_ignores_case_and_spaces(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    with pytest.raises(ConfigError) as info:
        load_sentry_config()
    assert [p.variable for p in info.value.problems] == ["SENTRY_DSN"]
    assert "SENTRY_DSN" in str(info.value)


def test_production_environment_is_sent_without_surrounding_spaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", " production ")
    monkeypatch.setenv("SENTRY_DSN", SECRET_DSN)
    config = load_sentry_config()
    assert config.production is True
    assert config.settings.environment == "production"


def test_spotlight_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", SECRET_DSN)
    monkeypatch.setenv("SENTRY_SPOTLIGHT", "http://localhost:8969/stream")
    with pytest.raises(ConfigError) as info:
        load_sentry_config()
    assert [p.variable for p in info.value.problems] == ["SENTRY_SPOTLIGHT"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("0", False),
        ("http://localhost:8969/stream", "http://localhost:8969/stream"),
    ],
)
def test_spotlight_outside_production(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: object
) -> None:
    monkeypatch.setenv("SENTRY_SPOTLIGHT", raw)
    assert load_sentry_config().settings.spotlight == expected


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # systemd's EnvironmentFile turns "SENTRY_RELEASE=" into an empty string.
    monkeypatch.setenv("SENTRY_RELEASE", "")
    monkeypatch.setenv("SENTRY_DSN", "")
    config = load_sentry_config()
    assert config.settings.release is None
    assert config.mode == "disabled"
    assert config.problems == ()


@pytest.mark.parametrize(
    "dsn",
    [
        "https://publickey1234:secretkey5678@o1.ingest.example.com/notanumber",
        "gopher://publickey1234:secretkey5678@o1.ingest.example.com/1",
        "https://publickey1234:secretkey5678@/1",
    ],
)
@pytest.mark.parametrize("environment", ["production", "development"])
def test_no_message_contains_the_dsn_keys(
    monkeypatch: pytest.MonkeyPatch, dsn: str, environment: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", environment)
    monkeypatch.setenv("SENTRY_DSN", dsn)
    try:
        text = "\n".join(load_sentry_config().warnings())
    except ConfigError as exc:
        text = str(exc)
    assert "SENTRY_DSN" in text
    assert "secretkey5678" not in text
    assert "publickey1234" not in text


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("SENTRY_ENV", "SENTRY_ENVIRONMENT"),
        ("SENTRY_DSN_BACKEND", "SENTRY_DSN"),
        # A known name it starts with, however little else of it matches.
        ("SENTRY_DSN_FOR_THE_BACKEND_SERVICE", "SENTRY_DSN"),
        # Of the names it starts, the shortest (not the first in order: CEILING).
        ("SENTRY_STORM", "SENTRY_STORM_LIMIT"),
        ("SENTRY_TRACES_SAMPLE_RATE_BACKEND", "SENTRY_TRACES_SAMPLE_RATE"),
        ("SENTRY_RELASE", "SENTRY_RELEASE"),
    ],
)
def test_unknown_sentry_variable_suggests_the_nearest_name(
    monkeypatch: pytest.MonkeyPatch, typo: str, suggestion: str
) -> None:
    monkeypatch.setenv(typo, "1")
    warnings = load_sentry_config().warnings()
    assert warnings == [f"unknown variable {typo} is ignored; did you mean {suggestion}?"]


@pytest.mark.parametrize("name", ["SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_PROJECT"])
def test_sentry_cli_variables_are_not_typos(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "value")
    assert load_sentry_config().warnings() == []


def test_unknown_variable_warning_never_shows_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN_BACKEND", LEGACY_DSN)
    text = "\n".join(load_sentry_config().warnings())
    assert "SENTRY_DSN_BACKEND" in text
    assert "secretkey5678" not in text and "publickey1234" not in text


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (SECRET_DSN, "https://[Filtered]@o1.ingest.example.com/77"),
        (LEGACY_DSN, "https://[Filtered]@o1.ingest.example.com/77"),
        ("http://k@127.0.0.1:9000/sub/3", "http://[Filtered]@127.0.0.1:9000/sub/3"),
        (None, "(none)"),
        ("garbage", "(invalid)"),
    ],
)
def test_redact_dsn(dsn: str | None, shown: str) -> None:
    assert redact_dsn(dsn) == shown


def test_in_app_include_is_a_list_of_package_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", " booty , myapp.core,")
    assert load_sentry_config().settings.in_app_packages == ("booty", "myapp.core")


@pytest.mark.parametrize("raw", [None, "sometimes"])
def test_spotlight_unset_or_invalid_is_off_and_the_sdk_does_not_read_it(
    monkeypatch: pytest.MonkeyPatch, raw: str | None
) -> None:
    # The sdk enables Spotlight by itself from the variable when the option is None.
    if raw is not None:
        monkeypatch.setenv("SENTRY_SPOTLIGHT", raw)
    monkeypatch.setenv("SENTRY_DSN", "https://publickey0123456789abcdef@sentry.invalid/42")
    config = load_sentry_config()
    client = init_sentry(config, transport=CapturingTransport())
    client.close(timeout=0)
    monkeypatch.setenv("SENTRY_SPOTLIGHT", "true")
    later = init_sentry(config, transport=CapturingTransport())
    assert config.settings.spotlight is False
    assert client.options["spotlight"] is False and client.spotlight is None
    assert later.spotlight is None


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", " OFF ", "False", "No"])
def test_spotlight_off_in_any_spelling_lets_production_start(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_DSN", SECRET_DSN)
    monkeypatch.setenv("SENTRY_SPOTLIGHT", raw)

    config = load_sentry_config()

    assert config.settings.spotlight is False
    assert config.problems == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("yes", True),
        (" On ", True),
        ("TRUE", True),
        ("https://spotlight.local:8969/stream", "https://spotlight.local:8969/stream"),
        (" http://localhost:8969/stream ", "http://localhost:8969/stream"),
    ],
)
def test_spotlight_on_in_any_spelling_or_as_a_url(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: object
) -> None:
    monkeypatch.setenv("SENTRY_SPOTLIGHT", raw)

    config = load_sentry_config()

    assert config.settings.spotlight == expected
    assert config.problems == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Off", "off"),
        (" Booty-Worker_1 ", "booty-worker_1"),
        ("w" * 50, "w" * 50),
        ("9", "9"),
    ],
)
def test_worker_monitor_slug_is_read_lower_case(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    monkeypatch.setenv("SENTRY_WORKER_MONITOR", raw)

    config = load_sentry_config()

    assert config.settings.worker_monitor == expected
    assert config.problems == ()


def test_edge_values_of_environment_release_and_packages_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", " " + "e" * 64 + " ")
    monkeypatch.setenv("SENTRY_RELEASE", "X" * 200)
    monkeypatch.setenv("SENTRY_IN_APP_INCLUDE", " booty , myapp.core,,")

    config = load_sentry_config()

    assert config.problems == ()
    s = config.settings
    assert (s.environment, s.release) == ("e" * 64, "X" * 200)
    assert s.in_app_packages == ("booty", "myapp.core")


@pytest.mark.parametrize(
    ("profiles", "traces", "warned"),
    [("0.5", "0", True), ("0.5", "0.1", False), ("0", "0", False)],
)
def test_profiles_without_traces_are_called_ignored(
    monkeypatch: pytest.MonkeyPatch, profiles: str, traces: str, warned: bool
) -> None:
    monkeypatch.setenv("SENTRY_PROFILES_SAMPLE_RATE", profiles)
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", traces)

    warnings = load_sentry_config().warnings()

    assert warnings == (
        [
            "SENTRY_PROFILES_SAMPLE_RATE is ignored: profiles need tracing, and "
            "SENTRY_TRACES_SAMPLE_RATE is 0"
        ]
        if warned
        else []
    )


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("SENTRY_ENVIRONMENT", "  ", "must not be blank"),
        ("SENTRY_ENVIRONMENT", "x" * 65, "must be at most 64 characters"),
        ("SENTRY_ENVIRONMENT", "prod/eu", "must not contain '/' or a newline"),
        ("SENTRY_ENVIRONMENT", "None", "must not be the string 'None'"),
        ("SENTRY_RELEASE", "latest", "must not be '.', '..', blank or 'latest'"),
        ("SENTRY_RELEASE", "a\tb", "must not contain '/', '\\', a newline or a tab"),
        ("SENTRY_RELEASE", "r" * 201, "must be at most 200 characters"),
        (
            "SENTRY_IN_APP_INCLUDE",
            "booty, ../etc",
            "must be comma-separated package names (e.g. booty,myapp.core)",
        ),
        (
            "SENTRY_SPOTLIGHT",
            "sometimes",
            "must be true/false or an http(s) URL of the Spotlight sidecar",
        ),
        (
            "SENTRY_WORKER_MONITOR",
            "Nightly Sync",
            "must be 'off' or a monitor slug: 1 to 50 of a-z, 0-9, '-' and '_'",
        ),
    ],
)
def test_each_invalid_value_is_explained_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, message: str
) -> None:
    monkeypatch.setenv(name, raw)

    assert load_sentry_config().warnings() == [
        f"invalid configuration: {name} {message}; using the default"
    ]


def test_production_refusals_say_what_production_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("SENTRY_SPOTLIGHT", "on")

    with pytest.raises(ConfigError) as info:
        load_sentry_config()

    assert str(info.value) == (
        "SENTRY_DSN is required when SENTRY_ENVIRONMENT is production; "
        "SENTRY_SPOTLIGHT is for local development and refused in production"
    )


def test_an_unknown_variable_like_no_known_one_is_named_without_a_guess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTRY_QQQQQQQQQQQQQQQQQQQQ", "1")

    assert load_sentry_config().warnings() == [
        "unknown variable SENTRY_QQQQQQQQQQQQQQQQQQQQ is ignored"
    ]


@pytest.mark.parametrize(
    ("raw", "production", "networks"),
    [
        # Unset: nobody's trace is continued in production, anyone's elsewhere.
        (None, True, ()),
        (None, False, ANY_NETWORK),
        ("*", True, ANY_NETWORK),
        (" None ", False, ()),
        # Host bits written in, as operators do, and spaces around the commas.
        (
            " 10.1.2.3/8, 192.0.2.7 ",
            True,
            (ip_network("10.0.0.0/8"), ip_network("192.0.2.7/32")),
        ),
    ],
)
def test_trusted_trace_sources_name_the_networks_whose_traces_are_continued(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, production: bool, networks: Networks
) -> None:
    if raw is not None:
        monkeypatch.setenv("SENTRY_TRUSTED_TRACE_SOURCES", raw)

    config = load_sentry_config()

    assert config.problems == ()
    assert config.settings.trace_networks(production=production) == networks


@pytest.mark.parametrize("raw", ["10.0.0.0/8,intranet", "10.0.0.0/8 192.0.2.7", "**"])
def test_invalid_trusted_trace_sources_are_explained_and_trust_the_default(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("SENTRY_TRUSTED_TRACE_SOURCES", raw)

    config = load_sentry_config()

    assert config.warnings() == [
        "invalid configuration: SENTRY_TRUSTED_TRACE_SOURCES must be '*', 'none' or "
        "comma-separated IP addresses or networks; using the default"
    ]
    assert config.settings.trace_networks(production=True) == ()


def test_spotlight_given_as_none_in_code_is_off() -> None:
    assert SentrySettings(spotlight=None).spotlight is False  # type: ignore[arg-type]
