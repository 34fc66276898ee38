import subprocess
import sys

from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_OK, main


def test_help_lists_the_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("run", "validate", "config", "diagnostics", "version"):
        assert command in out


def test_help_imports_nothing_heavy():
    probe = (
        "import sys\nfrom waldur_site_agent_actors.agent import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('waldur_api_client', 'requests', 'pykka', 'stomp', 'msgspec', 'yaml')]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY="


def test_validate_missing_file_is_a_config_error(tmp_path, capsys):
    assert main(["validate", "-c", str(tmp_path / "absent.yaml")]) == EXIT_CONFIG
    assert "no such file" in capsys.readouterr().err


def test_version(capsys):
    assert main(["version"]) == EXIT_OK
    assert capsys.readouterr().out.startswith("waldur-site-agent ")


def test_the_wheels_console_scripts_are_the_commands_the_package_wraps():
    """pyproject's scripts and agent/commands.py (what /usr/bin runs) name the same functions."""
    import tomllib
    from pathlib import Path

    from waldur_site_agent_actors.agent.commands import COMMANDS

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts == {
        name: f"{module}:{function}" for name, (module, function) in COMMANDS.items()
    }
