"""The collection declares one license, GPL-3.0-or-later, and says so the same way everywhere:
galaxy.yml, every role's galaxy_info, every plugin's header, and the LICENSE file beside them."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HEADER = "# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)"


def test_license_file_is_the_gpl_version_3_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text.splitlines()[1]
    # The "or any later version" the collection claims is the license's own section 14.
    assert "14. Revised Versions of this License." in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_galaxy_declares_gpl_3_or_later_and_ships_the_license_file():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert "license_file" not in galaxy  # galaxy.yml allows one of license and license_file
    assert not any(pattern in ("LICENSE", "LICENSE*", "*") for pattern in galaxy.get("build_ignore", ()))


@pytest.mark.parametrize("role", sorted(path.name for path in (ROOT / "roles").iterdir()))
def test_every_role_declares_the_same_license(role):
    meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text(encoding="utf-8"))
    assert meta["galaxy_info"]["license"] == "GPL-3.0-or-later"


# Package markers stay empty: ansible-test's empty-init check asks for that.
@pytest.mark.parametrize(
    "path",
    sorted(str(path.relative_to(ROOT)) for path in (ROOT / "plugins").rglob("*.py") if path.stat().st_size),
    ids=str,
)
def test_every_plugin_file_carries_the_license_header(path):
    head = (ROOT / path).read_text(encoding="utf-8").splitlines()[:5]
    assert HEADER in head, "%s: no GPL-3.0+ header in its first lines" % path
