"""Bad configuration gives exit code 2 and a one-line message naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import iter_keys, load_config, parse_config


def _check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    return result.exit_code, result.output


def test_valid_config_checks(config_path: Path) -> None:
    code, out = _check(config_path)
    assert code == 0, out
    assert "is valid" in out


def test_shipped_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parent.parent / "config.yaml")
    assert cfg.sources and cfg.topic.descriptions["vi"]


CASES = [
    ("unknown top-level key", "database: x.db\ndatabse: y.db\n", ["databse", "unknown key"]),
    ("unknown nested key", "smtp:\n  hots: mail\n", ["smtp.hots", "unknown key"]),
    (
        "unknown source key",
        "sources:\n  - {name: a, kind: rss, url: 'http://127.0.0.1/f', intervall: 5m}\n",
        ["sources[0].intervall", "unknown key"],
    ),
    ("wrong type", "web:\n  port: eighty\n", ["web.port", "type"]),
    (
        "bad duration",
        "sources:\n  - {name: a, kind: rss, url: 'http://127.0.0.1/', interval: soon}\n",
        ["sources[0].interval", "15m"],
    ),
    ("bad kind", "sources:\n  - {name: a, kind: fax, url: 'http://127.0.0.1/'}\n", ["sources[0]", "rss"]),
    ("missing url", "sources:\n  - {name: a, kind: rss}\n", ["sources[0].url", "missing"]),
    ("bad url", "sources:\n  - {name: a, kind: rss, url: 'ftp://x/'}\n", ["sources[0].url", "http"]),
    ("bad timezone", "digest:\n  timezone: Mars/Base\n", ["digest.timezone", "IANA"]),
    ("bad web timezone", "web:\n  timezone: Hanoi\n", ["web.timezone", "IANA"]),
    (
        "bad source timezone",
        "sources:\n  - {name: a, kind: rss, url: 'http://127.0.0.1/', timezone: GMT+7}\n",
        ["sources[0].timezone", "IANA"],
    ),
    (
        "moved key written twice",
        "classifier:\n  top_k: 3\nmatch:\n  top_k: 4\n",
        ["classifier.top_k", "match.top_k", "remove"],
    ),
    ("bad match key", "match:\n  top_k: 0\n", ["match.top_k"]),
    ("bad security", "smtp:\n  security: tls\n", ["smtp.security", "starttls"]),
    (
        "duplicate source",
        "sources:\n  - {name: a, kind: rss, url: 'http://h/'}\n  - {name: a, kind: rss, url: 'http://h/2'}\n",
        ["used twice"],
    ),
    ("broken yaml", "database: x\nsources: [\n  - name: a\n", ["line", "YAML"]),
    ("not a mapping", "- just\n- a list\n", ["top level"]),
]


@pytest.mark.parametrize(("name", "text", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_exit_2(tmp_path: Path, name: str, text: str, expect: list[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    code, out = _check(path)
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.strip().splitlines() if line]
    assert len(lines) == 1, out
    for fragment in expect:
        assert fragment.lower() in out.lower(), (fragment, out)


def test_every_time_zone_key_is_the_one_timezone_type() -> None:
    from monitor import config as c

    zone_keys = {
        f"{m.__name__}.{name}"
        for m in (c.DigestConfig, c.WebConfig, *c._models_of(c.SourceConfig))
        for name, f in m.model_fields.items()
        if "timezone" in name
    }
    assert {"DigestConfig.timezone", "WebConfig.timezone", "RssSource.timezone"} <= zone_keys
    # pydantic keeps an Annotated alias's metadata on the field: each one carries TimeZone's validator.
    for key in zone_keys:
        model = getattr(c, key.split(".")[0])
        meta = model.model_fields["timezone"].metadata
        assert any(getattr(v, "func", None) is c._check_timezone for v in meta), key
    cfg = parse_config("web: {timezone: Europe/Paris}\ndigest: {timezone: UTC}\n")
    assert (cfg.web.timezone, cfg.digest.timezone, c.Config().web.timezone) == (
        "Europe/Paris",
        "UTC",
        c.DEFAULT_TIMEZONE,
    )


def test_match_section_and_the_old_classifier_keys_both_work() -> None:
    from monitor.config import ConfigDeprecationWarning

    new = parse_config("match:\n  top_k: 3\n  suggestion: 0.5\n")
    with pytest.warns(ConfigDeprecationWarning) as caught:
        old = parse_config("classifier:\n  top_k: 3\n  thresholds: {suggestion: 0.5, risk: 0.6}\n")
    assert (new.match.top_k, new.match.suggestion) == (old.match.top_k, old.match.suggestion) == (3, 0.5)
    assert old.classifier.thresholds.risk == 0.6
    messages = [str(w.message) for w in caught]
    assert any("classifier.top_k" in m and "match.top_k" in m for m in messages), messages
    assert any("classifier.thresholds.suggestion" in m and "match.suggestion" in m for m in messages), (
        messages
    )
    assert not hasattr(old.classifier, "top_k") and not hasattr(old.classifier.thresholds, "suggestion")


def test_the_shipped_config_uses_the_match_section(recwarn: pytest.WarningsRecorder) -> None:
    cfg = load_config(Path(__file__).parent.parent / "config.yaml")
    assert not [w for w in recwarn if "deprecated" in str(w.message)]
    assert cfg.match.top_k >= 1


def test_misinfo_check_shows_the_deprecation_warning(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: {tmp_path / 'm.db'}\nstate_dir: {tmp_path}\nclassifier:\n  top_k: 7\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "from monitor.cli import main; main()", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "classifier.top_k is deprecated: write it as match.top_k" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    code, out = _check(tmp_path / "nope.yaml")
    assert code == 2
    assert "not found" in out and "--config" in out


def test_config_env_var(tmp_path: Path, config_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check"], env={"MISINFO_CONFIG": str(config_path)})
    assert result.exit_code == 0, result.output


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    cfg = parse_config("database: data/x.db\n", base_dir=tmp_path)
    assert cfg.database_path == tmp_path / "data" / "x.db"


def test_secrets_come_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config("smtp:\n  password_env: MY_SMTP_PW\n")
    monkeypatch.setenv("MY_SMTP_PW", "s3cret")
    assert cfg.secret(cfg.smtp.password_env) == "s3cret"


def test_every_config_key_is_documented_in_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [key for key, _ in iter_keys() if f"`{key}`" not in readme]
    assert not missing, f"document these config keys in README.md: {missing}"


def test_every_config_key_has_a_description() -> None:
    from monitor import config as c

    models = [
        c.Config,
        c.CollectConfig,
        c.TopicConfig,
        c.ClassifierConfig,
        c.Thresholds,
        c.MatchConfig,
        c.DigestConfig,
        c.Recipient,
        c.SmtpConfig,
        c.WebConfig,
        c.RssSource,
        c.PressSource,
    ]
    undocumented = [
        f"{m.__name__}.{name}"
        for m in models
        for name, f in m.model_fields.items()
        if not f.description
        and name
        not in {
            "kind",
            "base_dir",
            "sources",
            "collect",
            "topic",
            "classifier",
            "match",
            "digest",
            "smtp",
            "web",
            "thresholds",
            "recipients",
        }
    ]
    assert not undocumented
