"""A service for the log pipeline's tests: prints what a test asks for,
then stays up (an instance that exits would be restarted).

  lines N PREFIX       N lines "PREFIX i" on stdout, then "PREFIX done"
  bursts N PREFIX      the same, 5 lines at a time 0.15 s apart (several reads)
  trace                log lines with Java-style stack traces between them
  odd PATH             to PATH: invalid UTF-8, a line of exactly 1 MiB,
                       one of 1.5 MiB, then "after"
"""
import os
import sys
import time


def main():
    mode = sys.argv[1]
    if mode in ("lines", "bursts"):
        n, prefix = int(sys.argv[2]), sys.argv[3]
        for i in range(n):
            print("%s %d" % (prefix, i))
            if mode == "bursts" and i % 5 == 4:
                sys.stdout.flush()
                time.sleep(0.15)
        print("%s done" % prefix, flush=True)
    elif mode == "trace":
        print("INFO starting")
        print("ERROR request failed")
        print("java.lang.IllegalStateException: boom")
        print("\tat com.example.Shop.checkout(Shop.java:42)")
        print("\tat com.example.Main.main(Main.java:7)")
        print("INFO next request", flush=True)
        # The last event ends by the multiline timeout: nothing follows it.
    elif mode == "odd":
        with open(sys.argv[2], "ab") as f:
            f.write(b"bad \xff\xfe bytes \xc3\x28 end\n")
            f.write(b"A" * (1 << 20) + b"\n")
            f.write(b"B" * (3 << 19) + b"\n")
            f.write(b"after\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
