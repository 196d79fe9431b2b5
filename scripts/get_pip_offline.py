"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs it in each fresh venv it builds as `python get_pip.py [options] pip==X ...`.
We bootstrap pip from the interpreter's own ensurepip, then let that pip install exactly what
ansible-test asked for from the package index. Any failure is passed on, not hidden.
"""

import subprocess
import sys

# get-pip.py's own switches, which pip install does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    # ensurepip in a subprocess: run in-process it points PIP_CONFIG_FILE at /dev/null, which
    # would hide the machine's pip.conf (and its certificate settings) from the install below.
    subprocess.check_call(
        [sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL
    )
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", *args])


if __name__ == "__main__":
    sys.exit(main())
