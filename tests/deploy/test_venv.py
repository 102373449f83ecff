"""scripts/venv: pip runs only when pyproject.toml or the extras changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.deploy.support import REPO, write_script


def venv(checkout: Path, *extras: str) -> list[str]:
    """Run the checkout's scripts/venv and return the pip commands it ran."""
    log = checkout / "pip.log"
    log.write_text("")
    subprocess.run(
        [str(checkout / "scripts" / "venv"), *extras], check=True, timeout=60, cwd=checkout
    )
    return log.read_text().splitlines()


def checkout_with_a_venv(tmp_path: Path) -> Path:
    """A checkout whose .venv python only records what it is asked to run."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "venv", checkout / "scripts" / "venv")
    (checkout / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (checkout / ".venv" / "bin").mkdir(parents=True)
    write_script(checkout / ".venv" / "bin" / "python", f'echo "$*" >>{checkout}/pip.log')
    return checkout


def test_a_second_start_installs_nothing(tmp_path: Path) -> None:
    checkout = checkout_with_a_venv(tmp_path)
    (install,) = venv(checkout)
    assert install.startswith("-m pip install --quiet --config-settings editable_mode=compat")
    assert install.endswith("-e .[service]")
    assert venv(checkout) == []
    assert venv(checkout, "service") == []


def test_a_changed_pyproject_or_wider_extras_install_again(tmp_path: Path) -> None:
    checkout = checkout_with_a_venv(tmp_path)
    venv(checkout)
    (checkout / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    assert len(venv(checkout)) == 1
    (test,) = venv(checkout, "test")
    assert test.endswith("-e .[test]")
    # The test extra includes the service's.
    assert venv(checkout, "service") == []


def test_a_venv_set_up_for_mutation_testing_serves_the_tests_and_the_service(
    tmp_path: Path,
) -> None:
    checkout = checkout_with_a_venv(tmp_path)
    (mutation,) = venv(checkout, "mutation")
    assert mutation.endswith("-e .[mutation]")
    # The mutation extra includes the test extra, which includes the service's.
    assert venv(checkout, "test") == []
    assert venv(checkout, "service") == []
    assert venv(checkout, "mutation") == []
