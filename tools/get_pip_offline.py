"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads from its own file host.

Only PyPI is reachable from our machines, so ansible-test's download of get-pip.py fails. This
script does the same job from what is already here: ensurepip puts a pip into the new venv, then
that pip installs what get-pip was asked for (ansible-test's pinned pip version) from PyPI.
`make sanity` copies it to where ansible-test looks for its cached copy.
"""

import subprocess
import sys


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    # get-pip.py takes pip's own install options plus --no-setuptools / --no-wheel, which mean
    # "do not add them"; pip install has no such flags and adds nothing unless asked anyway.
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    main()
