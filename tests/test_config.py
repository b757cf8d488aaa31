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
            "digest",
            "smtp",
            "web",
            "thresholds",
            "recipients",
        }
    ]
    assert not undocumented
