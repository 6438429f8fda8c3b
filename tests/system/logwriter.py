"""A service for the log pipeline's tests: writes <total> numbered lines of
about 110 bytes to <path> (O_APPEND), <pace> lines a second, and every
<rotate> lines rotates the file the way logrotate does, alternately by
rename-and-create (path -> path.N) and by copytruncate (copy to path.cN,
then truncate). With a fifth argument "shift", it numbers like logrotate
does: path.1 -> path.2 -> ..., then path -> path.1 (renamed or copied). It
rotates between its own writes, so no line is torn."""
import os
import shutil
import sys
import time


def main():
    path, total, rotate, pace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    shift = len(sys.argv) > 5 and sys.argv[5] == "shift"
    batch = 1000
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    t0 = time.monotonic()
    n = 0
    rotations = 0
    pad = "x" * 88
    while n < total:
        lines = []
        for i in range(n, min(n + batch, total)):
            lines.append("seq=%08d %s\n" % (i, pad))
        os.write(fd, "".join(lines).encode())
        n += len(lines)
        if n % rotate == 0 and n < total:
            rotations += 1
            if shift:
                for k in range(rotations - 1, 0, -1):
                    if os.path.exists("%s.%d" % (path, k)):
                        os.rename("%s.%d" % (path, k), "%s.%d" % (path, k + 1))
            if rotations % 2:
                os.rename(path, "%s.%d" % (path, 1 if shift else rotations))
                os.close(fd)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            else:
                shutil.copyfile(path, "%s.1" % path if shift else "%s.c%d" % (path, rotations))
                os.truncate(path, 0)
        ahead = n / pace - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    os.close(fd)
    print("wrote %d lines, %d rotations" % (n, rotations), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
