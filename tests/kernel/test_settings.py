"""Settings: keyword arguments over ``CULTIVEAT_*`` variables over the TOML file over defaults;
plugin settings from ``CULTIVEAT_<PLUGIN>_*`` and the file's ``[<plugin>]`` table."""

from __future__ import annotations

from typing import ClassVar

import attrs
import pytest

from cultiveat_core import Settings
from cultiveat_core.errors import ConfigurationError


@attrs.frozen(kw_only=True)
class GreeterSettings:
    plugin: ClassVar[str] = "greeter"
    greeting: str = "hello"
    times: int = 1
    loud: bool = False


def test_precedence_keyword_then_environment_then_file_then_default(tmp_path):
    config = tmp_path / "cultiveat.toml"
    config.write_text('broker_url = "redis://file/1"\nplugins_block = ["a", "b"]\n'
                      'event_wait_seconds = 2.5\nsecret_key = "from-file"\n')
    settings = Settings.from_env(
        environ={"CULTIVEAT_CONFIG": str(config), "CULTIVEAT_BROKER_URL": "redis://env/2",
                 "CULTIVEAT_PLUGINS_STRICT": "1", "CULTIVEAT_SECRET_KEY": "from-env"},
        secret_key="from-keyword",
    )
    assert settings.secret_key == "from-keyword"
    assert settings.broker_url == "redis://env/2"
    assert settings.plugins_block == ("a", "b")
    assert settings.event_wait_seconds == 2.5
    assert settings.plugins_strict is True
    assert settings.broker_queue == "cultiveat"


def test_comma_lists_and_booleans_from_the_environment():
    settings = Settings.from_env(environ={"CULTIVEAT_PLUGINS_BLOCK": " scoring, ,email ",
                                          "CULTIVEAT_PLUGINS_STRICT": "false"})
    assert settings.plugins_block == ("scoring", "email")
    assert settings.plugins_strict is False


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CULTIVEAT_PLUGINS_STRICT", "maybe", "expected a boolean"),
    ("CULTIVEAT_EVENT_WAIT_SECONDS", "soon", "could not convert string to float"),
])
def test_invalid_values_name_the_variable(name, value, message):
    with pytest.raises(ConfigurationError, match=f"setting {name}='{value}' is invalid: .*{message}"):
        Settings.from_env(environ={name: value})


def test_a_missing_or_broken_settings_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"settings file .*nope\.toml does not exist"):
        Settings.from_env(environ={}, config_file=tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("this is = = not toml")
    with pytest.raises(ConfigurationError, match="is not valid TOML"):
        Settings.from_env(environ={}, config_file=broken)


def test_plugin_settings_from_environment_and_file_table(tmp_path):
    config = tmp_path / "cultiveat.toml"
    config.write_text('[greeter]\ngreeting = "hi"\ntimes = 3\n')
    settings = Settings.from_env(environ={"CULTIVEAT_CONFIG": str(config),
                                          "CULTIVEAT_GREETER_TIMES": "5",
                                          "CULTIVEAT_GREETER_LOUD": "yes"})
    assert settings.for_plugin(GreeterSettings) == GreeterSettings(greeting="hi", times=5,
                                                                    loud=True)
    with pytest.raises(ConfigurationError, match="CULTIVEAT_GREETER_TIMES='many' is invalid"):
        Settings.from_env(environ={"CULTIVEAT_GREETER_TIMES": "many"}).for_plugin(
            GreeterSettings)


def test_a_plugin_settings_class_must_name_its_plugin():
    @attrs.frozen
    class Nameless:
        value: str = ""

    with pytest.raises(ConfigurationError, match="needs a `plugin: ClassVar\\[str\\]`"):
        Settings.from_env(environ={}).for_plugin(Nameless)
